//! Printable pages: certificates (rule H7) and approval documents with
//! their history (rule A10's backups), as HTML. The templates are askama
//! templates under `templates/`, checked at compile time, and every value
//! is HTML-escaped.

use askama::Template;

/// Why a page could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("rendering {page}: {source}")]
pub struct PrintError {
    page: &'static str,
    source: askama::Error,
}

/// What a certificate shows.
#[derive(Template, Debug, Clone)]
#[template(path = "certificate.html")]
pub struct CertificatePage {
    /// 재직증명서 or 경력증명서.
    pub title: String,
    /// The serial number in the issue register.
    pub serial: String,
    pub company: String,
    pub name: String,
    pub employee_no: String,
    pub birth_date: Option<String>,
    /// Masked as asked, like `711231-1******`.
    pub resident_number: Option<String>,
    pub department: Option<String>,
    pub position: Option<String>,
    pub employed_from: Option<String>,
    /// None: still employed.
    pub employed_to: Option<String>,
    /// Shown on career certificates.
    pub duties: Option<String>,
    pub purpose: String,
    pub copies: u32,
    pub issued_on: String,
}

/// One place of an approval line, as printed.
#[derive(Debug, Clone)]
pub struct LineSlot {
    /// 결재, 합의, 수신, 참조, ...
    pub role: String,
    pub person: String,
    /// What the slot reads: 결재, 전결, 선결, 대결, 후열, 반려, or empty.
    pub mark: String,
    pub at: String,
}

/// One action of a document's history, as printed.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    pub at: String,
    pub action: String,
    pub by: String,
    pub comment: String,
}

/// An approval document with its line and history.
#[derive(Template, Debug, Clone)]
#[template(path = "document.html")]
pub struct DocumentPage {
    pub company: String,
    pub number: String,
    pub title: String,
    pub form: String,
    pub status: String,
    pub drafter: String,
    pub submitted_at: String,
    pub completed_at: String,
    /// Field labels and values, in the form's order.
    pub fields: Vec<(String, String)>,
    pub line: Vec<LineSlot>,
    pub history: Vec<HistoryLine>,
}

/// The index page of a backup archive.
#[derive(Template, Debug, Clone)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub company: String,
    pub from: String,
    pub to: String,
    /// File name and title of each document.
    pub documents: Vec<(String, String)>,
}

/// Renders a page.
///
/// # Errors
/// When the template fails (it cannot for these pages' plain values, but
/// askama's rendering is fallible).
pub fn render(page: &impl Template, name: &'static str) -> Result<String, PrintError> {
    page.render().map_err(|source| PrintError { page: name, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let page = IndexPage {
            company: "<script>alert(1)</script>".into(),
            from: "20260101".into(),
            to: "20261231".into(),
            documents: vec![("a.html".into(), "A & B".into())],
        };
        let html = render(&page, "index").unwrap();
        assert!(!html.contains("<script>") && html.contains("alert(1)"));
        assert!(!html.contains("A & B") && html.contains("A &#38; B"), "{html}");
    }
}
