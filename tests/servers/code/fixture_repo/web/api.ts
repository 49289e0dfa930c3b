export interface Order {
  id: string;
  total: number;
}

export type OrderId = string;

export enum Status {
  Open,
  Closed,
}

/** Fetches orders from the backend. */
export class OrderClient {
  private base: string;

  constructor(base: string) {
    this.base = base;
  }

  async fetchOrder(id: OrderId): Promise<Order> {
    const response = await fetch(`${this.base}/orders/${id}`);
    return parseOrder(await response.json());
  }
}

export function parseOrder(raw: unknown): Order {
  return raw as Order;
}
