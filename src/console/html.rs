//! Page layout, escaping and the stylesheet.

use std::fmt::Write;

use axum::http::header;
use axum::response::IntoResponse;

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Which navigation tab is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Grid,
    Runs,
    Breaks,
    Messages,
    Cluster,
    None,
}

/// What the layout needs to know about the visitor.
pub struct Chrome<'a> {
    pub operator: Option<&'a str>,
    pub csrf: &'a str,
    pub node: &'a str,
    pub leader: bool,
}

/// A whole page.
pub fn page(title: &str, tab: Tab, chrome: &Chrome<'_>, body: &str) -> String {
    let mut nav = String::new();
    for (t, href, label) in [
        (Tab::Grid, "/", "Grid"),
        (Tab::Runs, "/runs", "Runs"),
        (Tab::Breaks, "/breaks", "Breaks"),
        (Tab::Messages, "/messages", "Messages"),
        (Tab::Cluster, "/cluster", "Cluster"),
    ] {
        let class = if t == tab { " class=\"current\"" } else { "" };
        let _ = write!(nav, "<a href=\"{href}\"{class}>{label}</a>");
    }
    let who = match chrome.operator {
        Some(op) => format!(
            "<span class=\"who\">signed in as <b>{}</b></span>\
             <form method=\"post\" action=\"/logout\" class=\"inline\">{}<button class=\"link\">Sign out</button></form>",
            esc(op),
            csrf_field(chrome.csrf)
        ),
        None => "<a class=\"signin\" href=\"/login\">Sign in</a>".to_string(),
    };
    let role = if chrome.leader { "leader" } else { "follower" };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · reckon</title><link rel=\"stylesheet\" href=\"/static/console.css\"></head>\
         <body><header><div class=\"brand\">reckon<span>operations</span></div><nav>{nav}</nav>\
         <div class=\"node\">node <b>{node}</b> <span class=\"pill {role}\">{role}</span></div>\
         <div class=\"account\">{who}</div></header><main><h1>{title}</h1>{body}</main>\
         <footer>reckon {version} · times in UTC unless marked · <a href=\"/metrics\">/metrics</a></footer></body></html>",
        title = esc(title),
        node = esc(chrome.node),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The hidden CSRF input every form carries.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A status pill.
pub fn pill(status: &str) -> String {
    format!(
        "<span class=\"pill {}\">{}</span>",
        esc(&status.replace(' ', "-")),
        esc(status)
    )
}

/// A table: `attrs` (e.g. ` id="x"`, trusted), the column headings (trusted
/// text; one starting with `#` is a number column, right-aligned: `#Attempts`),
/// one item per row with the row's cells (`<td>…</td>…`, already escaped), and
/// the line shown across the table when there are no rows (`None`: nothing).
pub fn table(
    attrs: &str,
    head: &[&str],
    rows: impl IntoIterator<Item = String>,
    empty: Option<&str>,
) -> String {
    let mut t = format!("<table{attrs}><thead><tr>");
    for h in head {
        match h.strip_prefix('#') {
            Some(h) => {
                let _ = write!(t, "<th class=\"num\">{h}</th>");
            }
            None => {
                let _ = write!(t, "<th>{h}</th>");
            }
        }
    }
    t.push_str("</tr></thead><tbody>");
    let mut any = false;
    for row in rows {
        any = true;
        let _ = write!(t, "<tr>{row}</tr>");
    }
    if let (false, Some(empty)) = (any, empty) {
        let _ = write!(
            t,
            "<tr><td colspan=\"{}\" class=\"muted\">{empty}</td></tr>",
            head.len()
        );
    }
    t.push_str("</tbody></table>");
    t
}

/// A row's cells of plain text, each escaped.
pub fn cells(texts: &[&str]) -> String {
    let mut row = String::new();
    for text in texts {
        let _ = write!(row, "<td>{}</td>", esc(text));
    }
    row
}

/// A flash message box (`kind` = ok | error).
pub fn flash(kind: &str, text: &str) -> String {
    format!("<div class=\"flash {kind}\">{}</div>", esc(text))
}

/// `GET /static/console.css`.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
}

const CSS: &str = r#"
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--brand:#0f3d5e;--accent:#1d6fa5;
--ok:#15803d;--okbg:#dcfce7;--bad:#b91c1c;--badbg:#fee2e2;--warn:#b45309;--warnbg:#fef3c7;--run:#1d4ed8;--runbg:#dbeafe}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;color:var(--ink);background:var(--bg)}
header{display:flex;align-items:center;gap:24px;background:var(--brand);color:#fff;padding:0 24px;height:52px}
.brand{font-weight:700;font-size:18px;letter-spacing:.3px}.brand span{font-weight:400;opacity:.7;margin-left:8px;font-size:13px}
nav{display:flex;gap:4px;flex:1}nav a{color:#cfe3f3;text-decoration:none;padding:15px 12px;border-bottom:3px solid transparent}
nav a:hover{color:#fff}nav a.current{color:#fff;border-bottom-color:#7cc4f5}
.node{font-size:12px;opacity:.9}.account{font-size:13px}.account a,.account .link{color:#fff}
main{padding:20px 24px;max-width:1500px}h1{font-size:20px;margin:4px 0 16px}h2{font-size:15px;margin:22px 0 8px;color:#374151}
footer{color:var(--muted);font-size:12px;padding:16px 24px}footer a{color:var(--muted)}
a{color:var(--accent)}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:6px;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600;font-size:12px;color:#4b5563;text-transform:uppercase;letter-spacing:.3px;white-space:nowrap}
tr:last-child td{border-bottom:0}td.num,th.num{text-align:right}tbody tr:hover{background:#fafbfc}
.grid td{text-align:center;white-space:nowrap}.grid td.job{text-align:left}.grid .sub{display:block;color:var(--muted);font-size:11px}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:#eef0f3;color:#374151;text-decoration:none}
.pill.succeeded,.pill.resolved,.pill.delivered,.pill.leader{background:var(--okbg);color:var(--ok)}
.pill.failed,.pill.dead,.pill.cancelled{background:var(--badbg);color:var(--bad)}
.pill.stale,.pill.open,.pill.stuck,.pill.disabled{background:var(--warnbg);color:var(--warn)}
.pill.running,.pill.pending,.pill.prepared,.pill.committed{background:var(--runbg);color:var(--run)}
.pill.not-run,.pill.auto_resolved,.pill.rolled_back,.pill.follower{background:#eef0f3;color:var(--muted)}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:12px}
form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:end;background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px 12px;margin-bottom:14px}
label{display:flex;flex-direction:column;font-size:12px;color:#4b5563;gap:3px}
input,select,textarea{font:inherit;padding:5px 8px;border:1px solid #cbd5e1;border-radius:4px;background:#fff}
textarea{min-width:360px;min-height:60px}
button{font:inherit;background:var(--accent);color:#fff;border:0;border-radius:4px;padding:6px 14px;cursor:pointer}
button.secondary{background:#e5e7eb;color:var(--ink)}button.danger{background:var(--bad)}
button.link{background:none;padding:0 0 0 10px;text-decoration:underline}
form.inline{display:inline}.panel{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:10px 0}
.panel form{display:flex;gap:10px;align-items:end;flex-wrap:wrap}
dl.facts{display:grid;grid-template-columns:170px 1fr;gap:4px 12px;background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.flash{padding:9px 12px;border-radius:6px;margin-bottom:14px}.flash.ok{background:var(--okbg);color:var(--ok)}.flash.error{background:var(--badbg);color:var(--bad)}
.muted{color:var(--muted)}.err{color:var(--bad);white-space:pre-wrap}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:12px}.sides .panel h2{margin-top:0}
.login{max-width:360px;margin:40px auto;background:#fff;border:1px solid var(--line);border-radius:8px;padding:24px}
.login form{display:flex;flex-direction:column;gap:12px}
"#;
