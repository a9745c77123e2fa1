//! SLA clocks: business calendars and business-time arithmetic (pure; time passed in).
