//! The self-hosted SMTP relay sender against a real SMTP server on loopback: a message goes out
//! byte for byte to its envelope recipients, a 550 is a permanent refusal, an unreachable relay
//! a temporary one (the queue retries it).

use helpdesk_adapters::local::smtp_relay::SmtpRelaySender;
use helpdesk_app::outbound::{MailSender, SendError};

const RAW: &[u8] = b"From: Support <support@helpdesk.localhost>\r\nTo: dana@example.com\r\nSubject: Re: Printer\r\nMessage-ID: <t.1@helpdesk.localhost>\r\n\r\nFixed.\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_gets_the_message_and_refusals_are_classified() {
    let (addr, received) = helpdesk_tests::smtp::sink();
    let relay =
        SmtpRelaySender::from_url(&format!("smtp://{addr}"), "helpdesk.localhost").expect("relay");
    let id = relay
        .send(
            RAW,
            "support@helpdesk.localhost",
            &["dana@example.com".to_string()],
        )
        .await
        .expect("sent");
    assert!(id.0.starts_with("smtp 250"), "{}", id.0);
    {
        let got = received.lock().expect("lock");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, ["dana@example.com"]);
        assert_eq!(
            String::from_utf8_lossy(&got[0].1).trim_end(),
            String::from_utf8_lossy(RAW).trim_end(),
            "byte for byte"
        );
        assert!(String::from_utf8_lossy(&got[0].1).contains("Message-ID: <t.1@helpdesk.localhost>"));
    }

    let refused = relay
        .send(
            RAW,
            "support@helpdesk.localhost",
            &["reject@example.com".to_string()],
        )
        .await;
    assert!(
        matches!(refused, Err(SendError::Permanent(_))),
        "{refused:?}"
    );

    let bad = relay
        .send(
            RAW,
            "support@helpdesk.localhost",
            &["not an address".to_string()],
        )
        .await;
    assert!(matches!(bad, Err(SendError::Permanent(_))), "{bad:?}");

    // Nothing listens here (a port just freed): try again later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let down = SmtpRelaySender::from_url(&format!("smtp://127.0.0.1:{port}"), "helpdesk.localhost")
        .expect("relay");
    let r = down
        .send(
            RAW,
            "support@helpdesk.localhost",
            &["dana@example.com".to_string()],
        )
        .await;
    assert!(matches!(r, Err(SendError::Retryable(_))), "{r:?}");
}
