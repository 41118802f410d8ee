//! Defaults for [`SettingsResponse`]: everything unset, so Poe's defaults apply.

use crate::SettingsResponse;

impl Default for SettingsResponse {
    /// Every setting unset; served like fastapi_poe's default (`response_version` 2).
    ///
    /// ```
    /// let settings = poe_bot::SettingsResponse {
    ///     introduction_message: Some("Hi!".into()),
    ///     allow_attachments: Some(true),
    ///     ..Default::default()
    /// };
    /// assert!(settings.rate_card.is_none());
    /// ```
    fn default() -> Self {
        Self {
            response_version: None,
            context_clear_window_secs: None,
            allow_user_context_clear: None,
            custom_rate_card: None,
            server_bot_dependencies: Vec::new(),
            allow_attachments: None,
            introduction_message: None,
            expand_text_attachments: None,
            enable_image_comprehension: None,
            enforce_author_role_alternation: None,
            enable_multi_bot_chat_prompting: None,
            enable_multi_entity_prompting: None,
            rate_card: None,
            cost_label: None,
            parameter_controls: None,
        }
    }
}
