//! HTML sanitising: nothing that runs, submits or fetches survives; remote images are blocked,
//! `cid:` images kept.

use helpdesk_mail::{html_to_text, parse, sanitize_html, Limits, ParsedEmail};

/// Things that must never appear in sanitised output, whatever the input.
const FORBIDDEN: &[&str] = &[
    "<script",
    "<style",
    "<iframe",
    "<frame",
    "<object",
    "<embed",
    "<form",
    "<input",
    "<button",
    "<textarea",
    "<select",
    "<base",
    "<meta",
    "<link",
    "<svg",
    "<math",
    "javascript:",
    "vbscript:",
    "data:",
    "onerror",
    "onload",
    "onclick",
    "onmouseover",
    "srcset",
    "formaction",
    "http-equiv",
    "url(",
    "expression(",
];

const ATTACKS: &[&str] = &[
    r#"<script>alert(1)</script>"#,
    r#"<SCRIPT SRC=https://evil.example/x.js></SCRIPT>"#,
    r#"<img src=x onerror=alert(1)>"#,
    r#"<img src="https://evil.example/p.gif" onload="alert(1)">"#,
    r#"<img srcset="https://evil.example/a.png 1x" src="cid:a@b">"#,
    r#"<a href="javascript:alert(1)">x</a>"#,
    r#"<a href="JaVaScRiPt:alert(1)">x</a>"#,
    r#"<a href="&#106;avascript:alert(1)">x</a>"#,
    r#"<a href=" javascript:alert(1)">x</a>"#,
    r#"<a href="vbscript:msgbox(1)">x</a>"#,
    r#"<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>"#,
    r#"<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">"#,
    r#"<svg onload=alert(1)><circle r=1></circle></svg>"#,
    r#"<svg><script>alert(1)</script></svg>"#,
    r#"<math><mtext><script>alert(1)</script></mtext></math>"#,
    r#"<iframe src="https://evil.example/"></iframe>"#,
    r#"<iframe srcdoc="<script>alert(1)</script>"></iframe>"#,
    r#"<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x">"#,
    r#"<form action="https://evil.example/"><input name=p><button formaction="https://evil.example/">go</button><textarea></textarea><select></select></form>"#,
    r#"<base href="https://evil.example/"><a href="/x">relative</a>"#,
    r#"<meta http-equiv="refresh" content="0;url=https://evil.example/">"#,
    r#"<link rel=stylesheet href="https://evil.example/x.css">"#,
    r#"<style>@import url(https://evil.example/x.css); body { background: url(https://evil.example/b.png) }</style>"#,
    r#"<div style="background-image:url(https://evil.example/b.png)">x</div>"#,
    r#"<div style="width: expression(alert(1))">x</div>"#,
    r#"<table background="https://evil.example/t.png"><tr><td background="https://evil.example/d.png">x</td></tr></table>"#,
    r#"<p onmouseover="alert(1)">hover</p>"#,
    r#"<!--<script>alert(1)</script>--><p>after a comment</p>"#,
    r#"<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>"#,
    r#"<a href="https://ok.example/" title='"><script>alert(1)</script>'>ok</a>"#,
    r#"<img src="cid:logo@example.com" alt="logo"><img src="//evil.example/p.gif"><img src="http://evil.example/p.gif">"#,
];

#[test]
fn attacks_are_neutralised() {
    for attack in ATTACKS {
        let clean = sanitize_html(attack).to_ascii_lowercase();
        for forbidden in FORBIDDEN {
            assert!(
                !clean.contains(forbidden),
                "{forbidden:?} survived in {clean:?} (from {attack:?})"
            );
        }
        // No <img> fetches anything but a cid: part.
        for img in clean.split("<img").skip(1) {
            let tag = img.split('>').next().unwrap_or_default();
            if let Some(src) = tag.split(" src=\"").nth(1) {
                assert!(src.starts_with("cid:"), "remote image in {clean:?}");
            }
        }
    }
}

#[test]
fn remote_images_are_blocked_but_kept_for_show_images() {
    let clean = sanitize_html(
        r#"<p>Hi</p><img src="https://cdn.example/banner.png?a=1&amp;b=2" alt="Our banner" width="600"><img src="cid:logo@example.com" alt="logo">"#,
    );
    assert!(
        clean.contains(r#"<img data-blocked-src="https://cdn.example/banner.png?a=1&amp;b=2" alt="Our banner" width="600">"#),
        "{clean}"
    );
    assert!(
        clean.contains(r#"<img src="cid:logo@example.com" alt="logo">"#),
        "{clean}"
    );
}

#[test]
fn text_from_hostile_html_has_no_script() {
    let text = html_to_text(
        "<p>Hello</p><script>steal()</script><style>p{}</style><p>World <a href=\"javascript:x()\">link</a></p>",
    );
    assert_eq!(text, "Hello\n\nWorld link");
}

#[test]
fn parsed_html_is_sanitised() {
    let raw = b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n\
        <p onclick=\"x()\">Hi <a href=\"javascript:alert(1)\">there</a></p>\
        <img src=\"https://t.example/o.gif\"><script>alert(1)</script>";
    let ParsedEmail::Parsed(email) = parse(raw, &Limits::default()) else {
        panic!("should parse");
    };
    let html = email.html.expect("html body");
    assert_eq!(
        html,
        "<p>Hi <a target=\"_blank\" rel=\"noopener noreferrer nofollow\">there</a></p>\
         <img data-blocked-src=\"https://t.example/o.gif\">"
    );
    assert_eq!(email.text, "Hi there");
}
