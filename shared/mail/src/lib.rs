//! Mail: parsing and composing MIME, no I/O.
