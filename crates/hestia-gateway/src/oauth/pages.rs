//! The pages people see: the consent screen of the authorization endpoint, the device page and
//! error pages. Plain server-rendered HTML (headings, labelled fields, two buttons) that works
//! without scripts; every page refuses framing, so consent cannot be clickjacked.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{Form, OAuthError, Params};
use super::scope::Scopes;

/// An HTML page with its status.
pub struct Page {
    pub status: StatusCode,
    pub html: String,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.html).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }
}

/// The parameters of a page's form, or the error page for a form that could not be read.
pub fn form_params(form: Result<Form, OAuthError>) -> Result<Params, Box<Response>> {
    form.map(|Form(p)| p)
        .map_err(|e| Box::new(error(e.status, &e.description).into_response()))
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
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

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5}\
label{display:block;font-weight:600}input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}[role=alert]{color:#a00;font-weight:600}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} — Hestia</title>\n\
<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// A page saying what went wrong, for when there is nowhere safe to redirect to.
pub fn error(status: StatusCode, message: &str) -> Page {
    let body = format!(
        "<h1>This link request cannot go on</h1>\n<p role=\"alert\">{}</p>\n\
<p>Nothing was shared. Go back to the application that sent you here.</p>\n",
        escape(message)
    );
    Page {
        status,
        html: layout("Link request refused", &body),
    }
}

/// What the consent form shows and carries.
pub struct Consent<'a> {
    pub client_name: &'a str,
    pub scopes: Scopes,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through the form (the request's parameters).
    pub hidden: Vec<(&'a str, &'a str)>,
    /// A sign-in failure to show.
    pub alert: Option<&'a str>,
    pub username: &'a str,
}

/// The consent screen: who asks, for what in words, sign-in fields, Allow and Deny.
pub fn consent(c: &Consent<'_>, status: StatusCode) -> Page {
    let name = escape(c.client_name);
    let mut body = format!("<h1>Link {name} to your Hestia account</h1>\n");
    if let Some(alert) = c.alert {
        body.push_str(&format!("<p role=\"alert\">{}</p>\n", escape(alert)));
    }
    body.push_str(&format!(
        "<h2>{name} asks to</h2>\n<ul>\n{}</ul>\n",
        c.scopes
            .iter()
            .map(|s| format!("<li>{}</li>\n", escape(s.in_words())))
            .collect::<String>()
    ));
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\">\n",
        escape(c.action)
    ));
    for (name, value) in &c.hidden {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value)
        ));
    }
    body.push_str(&format!(
        "<h2>Sign in to decide</h2>\n\
<p><label for=\"username\">Username</label>\n<input id=\"username\" name=\"username\" \
autocomplete=\"username\" value=\"{}\" required></p>\n\
<p><label for=\"password\">Password</label>\n<input id=\"password\" name=\"password\" \
type=\"password\" autocomplete=\"current-password\" required></p>\n\
<p><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n\
<button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button></p>\n</form>\n",
        escape(c.username)
    ));
    Page {
        status,
        html: layout(&format!("Link {}", c.client_name), &body),
    }
}

/// The device page's first step: enter the code the other device shows.
pub fn enter_code(alert: Option<&str>, status: StatusCode) -> Page {
    let mut body = String::from("<h1>Link a device or home</h1>\n");
    if let Some(alert) = alert {
        body.push_str(&format!("<p role=\"alert\">{}</p>\n", escape(alert)));
    }
    body.push_str(
        "<form method=\"get\" action=\"/oauth/device\">\n\
<p><label for=\"user_code\">Code shown on the other device</label>\n\
<input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" autocapitalize=\"characters\" \
spellcheck=\"false\" required></p>\n<p><button type=\"submit\">Continue</button></p>\n</form>\n",
    );
    Page {
        status,
        html: layout("Link a device", &body),
    }
}

/// A page saying the decision was recorded.
pub fn done(allowed: bool, client_name: &str) -> Page {
    let (title, text) = if allowed {
        (
            "Linked",
            format!(
                "{} is now linked. You may close this page.",
                escape(client_name)
            ),
        )
    } else {
        (
            "Not linked",
            format!(
                "{} was not given access. You may close this page.",
                escape(client_name)
            ),
        )
    };
    Page {
        status: StatusCode::OK,
        html: layout(title, &format!("<h1>{title}</h1>\n<p>{text}</p>\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = consent(
            &Consent {
                client_name: "<script>",
                scopes: Scopes::all(),
                action: "/oauth/authorize",
                hidden: vec![("state", "\"><x")],
                alert: None,
                username: "",
            },
            StatusCode::OK,
        );
        assert!(!page.html.contains("<script>"));
        assert!(page.html.contains("value=\"&quot;&gt;&lt;x\""));
        assert!(page.html.contains("<label for=\"password\">"));
    }
}
