//! What several finance kinds share about the business day itself, so that
//! no kind imports another: the business-day window and its cut-off
//! (settlement and both reconciliations use it).

pub mod window;
