# Billing helpers.
module Billing
  # An invoice with line totals.
  class Invoice
    TAX_RATE = 0.2

    def initialize(lines)
      @lines = lines
    end

    # Total including tax.
    def total
      subtotal * (1 + TAX_RATE)
    end

    def subtotal
      @lines.sum
    end

    def self.empty
      new([])
    end
  end
end
