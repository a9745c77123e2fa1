//! Mail: parsing and composing MIME, no I/O.
//!
//! A small API in the style of `mail-parser`, which does the MIME work underneath:
//!
//! - [`parse`] turns raw bytes into an [`InboundEmail`] or a [`RejectReason`]; it never panics
//!   and never loses a message silently (every input ends as one or the other).
//! - [`AutoKind`] (on every parsed email) says whether the mail was written by a machine:
//!   auto-replies, bulk/list mail and bounces never trigger our own auto-replies.
//! - [`split_reply`] separates what the sender just wrote from the quoted history and the
//!   signature, for display; the full body stays in [`InboundEmail::text`].
//! - [`ThreadSigner`] signs and verifies the threading keys we put in our own outbound
//!   `Message-ID`s and reply-to addresses; [`subject_token`] reads `[#HD-1042]` from a subject.
//! - [`compose_reply`] writes an [`OutboundEmail`] as RFC 5322 MIME with threading headers.
//! - [`sanitize_html`] and [`html_to_text`] are the HTML rules used by [`parse`], for callers that
//!   hold HTML from elsewhere.
//!
//! Nothing here reads a clock, a file or the network: dates are passed in.

mod auto;
mod html;
mod inbound;
mod outbound;
mod reply;
mod text;
mod thread;

pub use auto::AutoKind;
pub use html::{html_to_text, sanitize_html};
pub use inbound::{
    parse, Attachment, InboundEmail, Limits, Mailbox, OmitReason, ParsedEmail, RejectReason,
};
pub use outbound::{compose_reply, OutboundAttachment, OutboundEmail};
pub use reply::{split_reply, ReplyParts};
pub use thread::{subject_token, ThreadSigner};
