//! What several finance kinds share about the business day and the
//! business ledger, so that no kind imports another: the business-day
//! window and its cut-off, the chart of accounts, and the fixtures of the
//! shared business tables (merchants, accounts, orders, refunds, journal).
//! Settlement and both reconciliations use it.

pub mod accounts;
pub mod fixtures;
pub mod window;
