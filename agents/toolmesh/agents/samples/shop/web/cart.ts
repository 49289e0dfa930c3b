// Cart totals for the shop's web front end (mirrors checkout.Cart and invoices.gross_amount in Python).

export const VAT_RATE = 0.2;
export const MAX_QUANTITY_PER_LINE = 10;

export interface CartLine {
  sku: string;
  name: string;
  unitPrice: number; // net price per unit in EUR, as in products.unit_price
  quantity: number;
}

/** Round an amount to the cent. */
function toCents(amount: number): number {
  return Math.round(amount * 100) / 100;
}

/** Net price of one line (unit price times quantity), before VAT. */
export function lineTotal(line: CartLine): number {
  if (line.quantity < 1 || line.quantity > MAX_QUANTITY_PER_LINE) {
    throw new RangeError(`a line holds 1 to ${MAX_QUANTITY_PER_LINE} units of ${line.sku}`);
  }
  return toCents(line.unitPrice * line.quantity);
}

/** Total of the cart in EUR: net by default, or VAT included when includeVat is true. */
export function cartTotal(lines: CartLine[], includeVat = false): number {
  const net = toCents(lines.reduce((sum, line) => sum + lineTotal(line), 0));
  return includeVat ? toCents(net * (1 + VAT_RATE)) : net;
}

/** Format an amount in euros for display, e.g. "566,40 €" in French. */
export function formatPrice(amount: number, locale = "fr-FR"): string {
  return new Intl.NumberFormat(locale, { style: "currency", currency: "EUR" }).format(amount);
}

/** The summary line shown under the cart: item count and the total with VAT. */
export function cartSummary(lines: CartLine[], locale = "fr-FR"): string {
  const items = lines.reduce((count, line) => count + line.quantity, 0);
  return `${items} item(s), ${formatPrice(cartTotal(lines, true), locale)} incl. VAT`;
}
