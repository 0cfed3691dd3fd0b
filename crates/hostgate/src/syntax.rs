//! Policy text parser (stub).
