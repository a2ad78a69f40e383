//! Benchmark data: ledger and statement files with a known mix of breaks.
