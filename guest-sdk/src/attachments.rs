//! Files in the answer: fastapi_poe's `post_message_attachment`, made by the host with the
//! bot's own access key. The `file` event goes out before the bot's next part.
//!
//! ```no_run
//! # fn run(out: &poe_bot::Responder) -> poe_bot::BotResult {
//! use poe_bot::attachments::{self, Upload};
//!
//! let file = attachments::post_message_attachment(Upload::bytes(b"a,b\n1,2\n".to_vec(), "table.csv"))?;
//! out.text(format!("Uploaded to {}", file.url))?;
//! let chart = attachments::post_message_attachment(Upload::url("https://example.com/chart.png").inline())?;
//! out.text(format!("![chart][{}]", chart.inline_ref.unwrap_or_default()))?;
//! # Ok(()) }
//! ```

use crate::FileAttachment;
pub use crate::bindings::poe::bot::attachments::{Upload, UploadError, UploadSource};

impl Upload {
    /// A file given as its bytes and name (the name is required for bytes).
    pub fn bytes(bytes: Vec<u8>, filename: &str) -> Self {
        Self { source: UploadSource::Bytes(bytes), filename: Some(filename.to_owned()), is_inline: false }
    }

    /// A file Poe downloads from `url`; named after the URL's last path segment unless
    /// [`named`](Self::named).
    pub fn url(url: &str) -> Self {
        Self { source: UploadSource::Url(url.to_owned()), filename: None, is_inline: false }
    }

    /// Give the file a name.
    pub fn named(mut self, filename: &str) -> Self {
        self.filename = Some(filename.to_owned());
        self
    }

    /// Show the file inline: refer to it in the text as `![alt][inline_ref]`.
    pub fn inline(mut self) -> Self {
        self.is_inline = true;
        self
    }
}

/// Upload a file and attach it to the answer; the `file` event's content comes back (Poe's
/// URL and MIME type, the name, the inline reference).
pub fn post_message_attachment(upload: Upload) -> Result<FileAttachment, UploadError> {
    crate::bindings::poe::bot::attachments::post_message_attachment(&upload)
}
