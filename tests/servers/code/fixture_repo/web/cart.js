// Shopping cart helpers.

/**
 * A cart holding line items.
 */
class Cart {
  constructor() {
    this.lines = [];
  }

  /** Add a line to the cart. */
  addLine(sku, qty) {
    this.lines.push({ sku, qty });
    return totalQuantity(this.lines);
  }
}

function totalQuantity(lines) {
  return lines.reduce((sum, line) => sum + line.qty, 0);
}

const formatPrice = (cents) => `$${(cents / 100).toFixed(2)}`;

module.exports = { Cart, totalQuantity, formatPrice };
