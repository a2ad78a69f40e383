//! `reckon bench compensation`.
