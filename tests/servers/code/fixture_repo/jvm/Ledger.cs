using System.Collections.Generic;

namespace Example.Accounts
{
    /// <summary>A ledger of entries.</summary>
    public class Ledger
    {
        private readonly List<decimal> entries = new List<decimal>();

        public int Count { get; }

        /// <summary>Record an amount.</summary>
        public void Record(decimal amount)
        {
            entries.Add(amount);
            Audit(amount);
        }

        private static void Audit(decimal amount) { }
    }

    public interface IClock { long Now(); }
}
