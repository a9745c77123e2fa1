//! Who may do what. Every use case asks these questions before it touches storage, and the
//! HTTP layer never decides on its own.

use crate::audit::ActorRef;
use crate::{EmailAddress, MessageKind, Role, Ticket};

/// The authenticated caller of a use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A customer: sees and writes only their own tickets.
    Customer { email: EmailAddress },
    /// A team member.
    Staff { email: EmailAddress, role: Role },
    /// The platform's backend, acting on behalf of its users (in-app channel). It reads and
    /// writes an existing ticket only while naming that ticket's customer (`on_behalf_of`), so a
    /// user id mix-up in the platform cannot show one user another's tickets.
    Platform {
        client_id: String,
        on_behalf_of: Option<EmailAddress>,
    },
    /// The product itself (sweeps, routing).
    System { job: String },
}

impl Actor {
    pub fn is_staff(&self) -> bool {
        matches!(self, Actor::Staff { .. })
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::Staff { role, .. } => Some(*role),
            _ => None,
        }
    }

    pub fn staff_email(&self) -> Option<&EmailAddress> {
        match self {
            Actor::Staff { email, .. } => Some(email),
            _ => None,
        }
    }

    pub fn reference(&self) -> ActorRef {
        match self {
            Actor::Customer { email } => ActorRef {
                kind: "customer".into(),
                id: email.to_string(),
            },
            Actor::Staff { email, role } => ActorRef {
                kind: role.as_str().into(),
                id: email.to_string(),
            },
            Actor::Platform { client_id, .. } => ActorRef {
                kind: "platform".into(),
                id: client_id.clone(),
            },
            Actor::System { job } => ActorRef {
                kind: "system".into(),
                id: job.clone(),
            },
        }
    }

    pub fn can_read_ticket(&self, ticket: &Ticket) -> bool {
        match self {
            Actor::Customer { email } => ticket.customer.email == *email,
            Actor::Platform { on_behalf_of, .. } => {
                on_behalf_of.as_ref() == Some(&ticket.customer.email)
            }
            Actor::Staff { .. } | Actor::System { .. } => true,
        }
    }

    /// Internal notes, audit history and agent-only fields.
    pub fn sees_internal(&self) -> bool {
        matches!(self, Actor::Staff { .. } | Actor::System { .. })
    }

    pub fn can_work_tickets(&self) -> bool {
        matches!(self, Actor::Staff { .. } | Actor::System { .. })
    }

    pub fn can_post(&self, ticket: &Ticket, kind: MessageKind) -> bool {
        match (self, kind) {
            (Actor::Staff { .. }, MessageKind::PublicReply | MessageKind::InternalNote) => true,
            (Actor::Customer { .. }, MessageKind::CustomerMessage) => self.can_read_ticket(ticket),
            // The platform (for the customer it names) and channel adapters (inbound e-mail)
            // post the customer's words.
            (Actor::Platform { .. }, MessageKind::CustomerMessage) => self.can_read_ticket(ticket),
            (Actor::System { .. }, MessageKind::CustomerMessage) => true,
            _ => false,
        }
    }

    /// Create, update and delete agents, departments and customers.
    pub fn can_manage_directory(&self) -> bool {
        matches!(
            self,
            Actor::Staff {
                role: Role::Admin,
                ..
            }
        )
    }

    pub fn can_read_directory(&self) -> bool {
        self.is_staff()
    }

    /// Supervisors and admins move work between other people.
    pub fn is_supervisor(&self) -> bool {
        matches!(
            self,
            Actor::Staff {
                role: Role::Supervisor | Role::Admin,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::tests::sample_ticket;

    #[test]
    fn customers_see_only_their_own() {
        let t = sample_ticket();
        let owner = Actor::Customer {
            email: t.customer.email.clone(),
        };
        let other = Actor::Customer {
            email: EmailAddress::parse("x@example.com").expect("e"),
        };
        assert!(owner.can_read_ticket(&t));
        assert!(!other.can_read_ticket(&t));
        assert!(!other.can_post(&t, MessageKind::CustomerMessage));
        assert!(!owner.can_post(&t, MessageKind::InternalNote));
        assert!(!owner.sees_internal());
    }

    #[test]
    fn the_platform_reads_only_for_the_customer_it_names() {
        let t = sample_ticket();
        let platform = |who: Option<&str>| Actor::Platform {
            client_id: "app".into(),
            on_behalf_of: who.map(|e| EmailAddress::parse(e).expect("e")),
        };
        assert!(platform(Some("c@example.com")).can_read_ticket(&t));
        assert!(platform(Some("c@example.com")).can_post(&t, MessageKind::CustomerMessage));
        assert!(!platform(Some("x@example.com")).can_read_ticket(&t));
        assert!(!platform(Some("x@example.com")).can_post(&t, MessageKind::CustomerMessage));
        assert!(!platform(None).can_read_ticket(&t));
        assert!(!platform(Some("c@example.com")).sees_internal());
    }

    #[test]
    fn only_admins_manage_people() {
        let e = EmailAddress::parse("a@example.com").expect("e");
        assert!(!Actor::Staff {
            email: e.clone(),
            role: Role::Agent
        }
        .can_manage_directory());
        assert!(!Actor::Staff {
            email: e.clone(),
            role: Role::Supervisor
        }
        .can_manage_directory());
        assert!(Actor::Staff {
            email: e,
            role: Role::Admin
        }
        .can_manage_directory());
    }
}
