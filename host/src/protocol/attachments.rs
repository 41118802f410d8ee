//! Attachment-message insertion (protocol §6.1), done on the host before the guest runs,
//! exactly as fastapi_poe's `insert_attachment_messages`: the parsed content of the last
//! message's attachments becomes user messages placed just before it.

use crate::protocol::models::{Attachment, ProtocolMessage};

// The templates, byte for byte as fastapi_poe 0.0.83's `templates.py` (note the image one's
// trailing space); tests/integration/attachments.rs compares with fastapi_poe itself.
// Filled in one pass with `format!`, so a name containing `{content}` stays literal.
fn text_template(name: &str, content: &str) -> String {
    format!("Below is the content of {name}:\n\n{content}")
}

fn url_template(name: &str, content: &str) -> String {
    format!(
        "Assume you can access the external URL {name}. Use the URL's content below to respond to the queries:\n\n{content}"
    )
}

fn image_template(filename: &str, description: &str) -> String {
    format!(
        "I have uploaded an image ({filename}). Assume that you can see the attached image. First, read the image analysis:\n\n<image_analysis>{description}</image_analysis>\n\nUse any relevant parts to inform your response. Do NOT reference the image analysis in your response. Respond in the same language as my next message. "
    )
}

/// Insert the attachment messages for the last message of `query`, in place.
pub fn insert_attachment_messages(query: &mut Vec<ProtocolMessage>) {
    let Some(last) = query.last() else { return };
    let mut texts = Vec::new();
    let mut images = Vec::new();
    for attachment in &last.attachments {
        match attachment_message(attachment) {
            Some(Inserted::Text(m)) => texts.push(m),
            Some(Inserted::Image(m)) => images.push(m),
            None => {}
        }
    }
    if texts.is_empty() && images.is_empty() {
        return;
    }
    let last = query.pop().expect("checked above");
    query.extend(texts.into_iter().chain(images).map(ProtocolMessage::user));
    query.push(last);
}

enum Inserted {
    Text(String),
    Image(String),
}

fn attachment_message(a: &Attachment) -> Option<Inserted> {
    let content = a.parsed_content.as_deref().filter(|c| !c.is_empty())?;
    if a.content_type == "text/html" {
        Some(Inserted::Text(url_template(&a.name, content)))
    } else if a.content_type.starts_with("text/") || a.content_type == "application/pdf" {
        Some(Inserted::Text(text_template(&a.name, content)))
    } else if a.content_type.contains("image") {
        let (filename, description) = content.split_once("***").unwrap_or((&a.name, content));
        Some(Inserted::Image(image_template(filename, description)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(content_type: &str, name: &str, parsed: Option<&str>) -> Attachment {
        Attachment {
            url: format!("https://x/{name}"),
            content_type: content_type.into(),
            name: name.into(),
            inline_ref: None,
            parsed_content: parsed.map(Into::into),
        }
    }

    fn with_attachments(attachments: Vec<Attachment>) -> Vec<ProtocolMessage> {
        let mut last = ProtocolMessage::user("question".into());
        last.attachments = attachments;
        vec![ProtocolMessage::user("earlier".into()), last]
    }

    #[test]
    fn text_and_image_messages_go_before_the_last_in_order() {
        let mut q = with_attachments(vec![
            attachment("image/png", "pic.png", Some("a.png***a cat")),
            attachment("text/plain", "notes.txt", Some("hello")),
            attachment("text/html", "https://e.com", Some("page")),
        ]);
        insert_attachment_messages(&mut q);
        let contents: Vec<_> = q.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents.len(), 5);
        assert!(contents[1].ends_with("Below is the content of notes.txt:\n\nhello"));
        assert!(contents[2].starts_with("Assume you can access the external URL https://e.com."));
        assert!(contents[3].starts_with("I have uploaded an image (a.png)."));
        assert!(contents[3].contains("<image_analysis>a cat</image_analysis>"));
        assert_eq!(contents[4], "question");
        assert_eq!(q[4].attachments.len(), 3, "the last message keeps its attachments");
    }

    #[test]
    fn image_without_separator_uses_the_attachment_name() {
        let mut q = with_attachments(vec![attachment("image/jpeg", "x.jpg", Some("just text"))]);
        insert_attachment_messages(&mut q);
        assert!(q[1].content.starts_with("I have uploaded an image (x.jpg)."));
        assert!(q[1].content.contains("<image_analysis>just text</image_analysis>"));
    }

    #[test]
    fn nothing_is_inserted_for_empty_or_unknown_or_earlier_attachments() {
        let mut q = with_attachments(vec![
            attachment("text/plain", "a.txt", Some("")),
            attachment("text/plain", "b.txt", None),
            attachment("video/mp4", "c.mp4", Some("frames")),
        ]);
        q[0].attachments = vec![attachment("text/plain", "old.txt", Some("old"))];
        insert_attachment_messages(&mut q);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn pdf_uses_the_text_template() {
        let mut q = with_attachments(vec![attachment("application/pdf", "doc.pdf", Some("pages"))]);
        insert_attachment_messages(&mut q);
        assert_eq!(q[1].content, text_template("doc.pdf", "pages"));
    }

    #[test]
    fn placeholders_inside_names_stay_literal() {
        let mut q = with_attachments(vec![attachment("text/html", "{content}", Some("body"))]);
        insert_attachment_messages(&mut q);
        assert!(q[1].content.contains("external URL {content}."));
    }
}
