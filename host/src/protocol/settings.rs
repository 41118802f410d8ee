//! The settings response as fastapi_poe writes it (protocol §5.2): all 15 keys, in its
//! order, unset values as `null`, and parameter controls with `api_version: "2"`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::guest::bindings::types as wit;

/// `response_version` written when the bot leaves it unset, as fastapi_poe does.
pub const DEFAULT_RESPONSE_VERSION: i32 = 2;
/// Largest settings body sent. Real settings are a few KiB; a bot returning its whole memory
/// (JSON escaping can make each byte six) is refused before the host buffers all of it.
pub const MAX_SETTINGS_BYTES: usize = 1 << 20;

/// A bot's settings would serialise to more than [`MAX_SETTINGS_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("settings larger than {MAX_SETTINGS_BYTES} bytes")]
pub struct SettingsTooLarge;

#[derive(Serialize)]
struct Settings<'a> {
    response_version: i32,
    context_clear_window_secs: Option<i64>,
    allow_user_context_clear: Option<bool>,
    custom_rate_card: Option<&'a str>,
    server_bot_dependencies: BTreeMap<&'a str, u32>,
    allow_attachments: Option<bool>,
    introduction_message: Option<&'a str>,
    expand_text_attachments: Option<bool>,
    enable_image_comprehension: Option<bool>,
    enforce_author_role_alternation: Option<bool>,
    enable_multi_bot_chat_prompting: Option<bool>,
    enable_multi_entity_prompting: Option<bool>,
    rate_card: Option<&'a str>,
    cost_label: Option<&'a str>,
    parameter_controls: Option<ParameterControls<'a>>,
}

/// The fewest bytes of JSON any list element of the settings takes (`{"control":"divider"}`
/// is 21, a dependency `"":0,` 5 plus its name): a lower bound that refuses huge settings
/// before anything is converted.
const MIN_ELEMENT_JSON: usize = 5;

/// The settings JSON body for a guest's settings, at most [`MAX_SETTINGS_BYTES`]. Settings
/// whose elements alone could not fit are refused before anything is copied: a guest's
/// 3,000,000 dependencies once took the host to 651 MB while being put in a JSON map.
pub fn settings_json(s: &wit::SettingsResponse) -> Result<Vec<u8>, SettingsTooLarge> {
    if min_json_len(s) > MAX_SETTINGS_BYTES {
        return Err(SettingsTooLarge);
    }
    // Borrowed and sorted, as a JSON map of the same pairs would be (the last of a
    // duplicated name wins).
    let deps: BTreeMap<&str, u32> =
        s.server_bot_dependencies.iter().map(|(bot, n)| (bot.as_str(), *n)).collect();
    let body = Settings {
        response_version: s.response_version.unwrap_or(DEFAULT_RESPONSE_VERSION),
        context_clear_window_secs: s.context_clear_window_secs,
        allow_user_context_clear: s.allow_user_context_clear,
        custom_rate_card: s.custom_rate_card.as_deref(),
        server_bot_dependencies: deps,
        allow_attachments: s.allow_attachments,
        introduction_message: s.introduction_message.as_deref(),
        expand_text_attachments: s.expand_text_attachments,
        enable_image_comprehension: s.enable_image_comprehension,
        enforce_author_role_alternation: s.enforce_author_role_alternation,
        enable_multi_bot_chat_prompting: s.enable_multi_bot_chat_prompting,
        enable_multi_entity_prompting: s.enable_multi_entity_prompting,
        rate_card: s.rate_card.as_deref(),
        cost_label: s.cost_label.as_deref(),
        parameter_controls: s.parameter_controls.as_ref().map(ParameterControls::from),
    };
    let mut out = Capped { buf: Vec::new(), room: MAX_SETTINGS_BYTES };
    // Writing to memory fails only when the cap is reached.
    serde_json::to_writer(&mut out, &body).map_err(|_| SettingsTooLarge)?;
    Ok(out.buf)
}

/// A lower bound on the JSON length of `s`'s lists, counted without allocating.
fn min_json_len(s: &wit::SettingsResponse) -> usize {
    let deps: usize = s.server_bot_dependencies.iter().map(|(bot, _)| bot.len() + MIN_ELEMENT_JSON).sum();
    let sections = s.parameter_controls.as_ref().map_or(&[][..], |p| &p.sections[..]);
    let elements: usize = sections.iter().map(section_elements).sum();
    deps.saturating_add(elements.saturating_mul(MIN_ELEMENT_JSON))
}

fn section_elements(s: &wit::Section) -> usize {
    let controls: usize = s.controls.iter().flatten().map(section_control_elements).sum();
    let tabs: usize = s
        .tabs
        .iter()
        .flatten()
        .map(|t| 1 + t.controls.iter().map(section_control_elements).sum::<usize>())
        .sum();
    1 + controls + tabs
}

fn section_control_elements(c: &wit::SectionControl) -> usize {
    match c {
        wit::SectionControl::Control(c) => control_elements(c),
        wit::SectionControl::Condition(c) => 1 + c.controls.iter().map(control_elements).sum::<usize>(),
    }
}

fn control_elements(c: &wit::Control) -> usize {
    1 + match c {
        wit::Control::DropDown(d) => d.options.len(),
        wit::Control::AspectRatio(a) => a.options.len(),
        _ => 0,
    }
}

/// A buffer that refuses writes past `room` bytes.
struct Capped {
    buf: Vec<u8>,
    room: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.room = self.room.checked_sub(bytes.len()).ok_or(std::io::ErrorKind::FileTooLarge)?;
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Serialize)]
struct ParameterControls<'a> {
    api_version: &'static str,
    sections: Vec<Section<'a>>,
}

impl<'a> From<&'a wit::ParameterControls> for ParameterControls<'a> {
    fn from(p: &'a wit::ParameterControls) -> Self {
        Self { api_version: "2", sections: p.sections.iter().map(Section::from).collect() }
    }
}

#[derive(Serialize)]
struct Section<'a> {
    name: Option<&'a str>,
    controls: Option<Vec<Control<'a>>>,
    tabs: Option<Vec<Tab<'a>>>,
    collapsed_by_default: Option<bool>,
}

impl<'a> From<&'a wit::Section> for Section<'a> {
    fn from(s: &'a wit::Section) -> Self {
        Self {
            name: s.name.as_deref(),
            controls: s.controls.as_ref().map(|c| c.iter().map(Control::from).collect()),
            tabs: s.tabs.as_ref().map(|t| t.iter().map(Tab::from).collect()),
            collapsed_by_default: s.collapsed_by_default,
        }
    }
}

#[derive(Serialize)]
struct Tab<'a> {
    name: Option<&'a str>,
    controls: Vec<Control<'a>>,
}

impl<'a> From<&'a wit::Tab> for Tab<'a> {
    fn from(t: &'a wit::Tab) -> Self {
        Self { name: t.name.as_deref(), controls: t.controls.iter().map(Control::from).collect() }
    }
}

/// One control; `Labelled` carries the keys most controls share.
#[derive(Serialize)]
#[serde(tag = "control", rename_all = "snake_case")]
enum Control<'a> {
    Divider,
    TextField(TextField<'a>),
    TextArea(TextField<'a>),
    DropDown(Choice<'a, ValueName<'a>, Option<&'a str>>),
    ToggleSwitch(Labelled<'a, Option<bool>>),
    Slider(Slider<'a>),
    AspectRatio(Choice<'a, Ratio<'a>, Option<&'a str>>),
    Condition { condition: Condition<'a>, controls: Vec<Control<'a>> },
}

#[derive(Serialize)]
struct Labelled<'a, D> {
    label: &'a str,
    description: Option<&'a str>,
    parameter_name: &'a str,
    default_value: D,
}

#[derive(Serialize)]
struct TextField<'a> {
    #[serde(flatten)]
    base: Labelled<'a, Option<&'a str>>,
    placeholder: Option<&'a str>,
}

#[derive(Serialize)]
struct Choice<'a, O, D> {
    #[serde(flatten)]
    base: Labelled<'a, D>,
    options: Vec<O>,
}

#[derive(Serialize)]
struct Slider<'a> {
    #[serde(flatten)]
    base: Labelled<'a, Option<f64>>,
    min_value: f64,
    max_value: f64,
    step: f64,
}

#[derive(Serialize)]
struct ValueName<'a> {
    value: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct Ratio<'a> {
    value: Option<&'a str>,
    width: f64,
    height: f64,
}

#[derive(Serialize)]
struct Condition<'a> {
    comparator: &'static str,
    left: Operand<'a>,
    right: Operand<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Operand<'a> {
    Literal { literal: Literal<'a> },
    Parameter { parameter_name: &'a str },
}

#[derive(Serialize)]
#[serde(untagged)]
enum Literal<'a> {
    Text(&'a str),
    Number(f64),
    Boolean(bool),
}

impl<'a> From<&'a wit::SectionControl> for Control<'a> {
    fn from(c: &'a wit::SectionControl) -> Self {
        match c {
            wit::SectionControl::Control(c) => c.into(),
            wit::SectionControl::Condition(c) => Control::Condition {
                condition: Condition {
                    comparator: comparator(c.condition.comparator),
                    left: (&c.condition.left).into(),
                    right: (&c.condition.right).into(),
                },
                controls: c.controls.iter().map(Control::from).collect(),
            },
        }
    }
}

impl<'a> From<&'a wit::Control> for Control<'a> {
    fn from(c: &'a wit::Control) -> Self {
        match c {
            wit::Control::Divider => Control::Divider,
            wit::Control::TextField(t) => Control::TextField(text_field(t)),
            wit::Control::TextArea(t) => Control::TextArea(text_field(t)),
            wit::Control::DropDown(d) => Control::DropDown(Choice {
                base: labelled(&d.label, &d.description, &d.parameter_name, d.default_value.as_deref()),
                options: d.options.iter().map(|o| ValueName { value: &o.value, name: &o.name }).collect(),
            }),
            wit::Control::ToggleSwitch(t) => {
                Control::ToggleSwitch(labelled(&t.label, &t.description, &t.parameter_name, t.default_value))
            }
            wit::Control::Slider(s) => Control::Slider(Slider {
                base: labelled(&s.label, &s.description, &s.parameter_name, s.default_value),
                min_value: s.min_value,
                max_value: s.max_value,
                step: s.step,
            }),
            wit::Control::AspectRatio(a) => Control::AspectRatio(Choice {
                base: labelled(&a.label, &a.description, &a.parameter_name, a.default_value.as_deref()),
                options: a
                    .options
                    .iter()
                    .map(|o| Ratio { value: o.value.as_deref(), width: o.width, height: o.height })
                    .collect(),
            }),
        }
    }
}

fn labelled<'a, D>(
    label: &'a str,
    description: &'a Option<String>,
    name: &'a str,
    default: D,
) -> Labelled<'a, D> {
    Labelled { label, description: description.as_deref(), parameter_name: name, default_value: default }
}

fn text_field(t: &wit::TextField) -> TextField<'_> {
    TextField {
        base: labelled(&t.label, &t.description, &t.parameter_name, t.default_value.as_deref()),
        placeholder: t.placeholder.as_deref(),
    }
}

impl<'a> From<&'a wit::Operand> for Operand<'a> {
    fn from(o: &'a wit::Operand) -> Self {
        match o {
            wit::Operand::ParameterName(name) => Operand::Parameter { parameter_name: name },
            wit::Operand::Literal(wit::Literal::Text(s)) => Operand::Literal { literal: Literal::Text(s) },
            wit::Operand::Literal(wit::Literal::Number(n)) => {
                Operand::Literal { literal: Literal::Number(*n) }
            }
            wit::Operand::Literal(wit::Literal::Boolean(b)) => {
                Operand::Literal { literal: Literal::Boolean(*b) }
            }
        }
    }
}

fn comparator(c: wit::Comparator) -> &'static str {
    match c {
        wit::Comparator::Eq => "eq",
        wit::Comparator::Ne => "ne",
        wit::Comparator::Gt => "gt",
        wit::Comparator::Ge => "ge",
        wit::Comparator::Lt => "lt",
        wit::Comparator::Le => "le",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> wit::SettingsResponse {
        wit::SettingsResponse {
            response_version: None,
            context_clear_window_secs: None,
            allow_user_context_clear: None,
            custom_rate_card: None,
            server_bot_dependencies: vec![],
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

    #[test]
    fn default_settings_match_fastapi_poe_bytes() {
        let expected = r#"{"response_version":2,"context_clear_window_secs":null,"allow_user_context_clear":null,"custom_rate_card":null,"server_bot_dependencies":{},"allow_attachments":null,"introduction_message":null,"expand_text_attachments":null,"enable_image_comprehension":null,"enforce_author_role_alternation":null,"enable_multi_bot_chat_prompting":null,"enable_multi_entity_prompting":null,"rate_card":null,"cost_label":null,"parameter_controls":null}"#;
        assert_eq!(String::from_utf8(settings_json(&empty()).unwrap()).unwrap(), expected);
    }

    #[test]
    fn parameter_controls_write_every_optional_key() {
        let toggle = wit::Control::ToggleSwitch(wit::ToggleSwitch {
            label: "Fast".into(),
            description: None,
            parameter_name: "fast".into(),
            default_value: Some(true),
        });
        let cond = wit::SectionControl::Condition(wit::ConditionControls {
            condition: wit::Condition {
                comparator: wit::Comparator::Eq,
                left: wit::Operand::ParameterName("fast".into()),
                right: wit::Operand::Literal(wit::Literal::Boolean(true)),
            },
            controls: vec![wit::Control::Divider],
        });
        let section = wit::Section {
            name: None,
            controls: Some(vec![wit::SectionControl::Control(toggle), cond]),
            tabs: None,
            collapsed_by_default: None,
        };
        let s = wit::SettingsResponse {
            parameter_controls: Some(wit::ParameterControls { sections: vec![section] }),
            ..empty()
        };
        let v: serde_json::Value = serde_json::from_slice(&settings_json(&s).unwrap()).unwrap();
        let expected = serde_json::json!({"api_version": "2", "sections": [{"name": null, "controls": [
            {"control": "toggle_switch", "label": "Fast", "description": null, "parameter_name": "fast", "default_value": true},
            {"control": "condition", "condition": {"comparator": "eq", "left": {"parameter_name": "fast"},
                "right": {"literal": true}}, "controls": [{"control": "divider"}]}
        ], "tabs": null, "collapsed_by_default": null}]});
        assert_eq!(v["parameter_controls"], expected);
    }

    #[test]
    fn settings_whose_lists_cannot_fit_are_refused_before_anything_is_copied() {
        let mut settings = empty();
        settings.server_bot_dependencies = (0..200_000).map(|i| (format!("bot{i}"), 1)).collect();
        assert!(min_json_len(&settings) > MAX_SETTINGS_BYTES);
        assert_eq!(settings_json(&settings), Err(SettingsTooLarge));
        settings.server_bot_dependencies = vec![("b".into(), 2), ("a".into(), 1), ("b".into(), 3)];
        let body = String::from_utf8(settings_json(&settings).unwrap()).unwrap();
        assert!(
            body.contains(r#""server_bot_dependencies":{"a":1,"b":3}"#),
            "sorted, the last duplicate wins: {body}"
        );
    }

    #[test]
    fn settings_that_escape_past_the_cap_are_refused() {
        // 200 KiB of control characters escape to 1.2 MB of JSON.
        let s = wit::SettingsResponse { introduction_message: Some("\u{1}".repeat(200 << 10)), ..empty() };
        assert_eq!(settings_json(&s), Err(SettingsTooLarge));
        let s = wit::SettingsResponse { introduction_message: Some("hi".into()), ..empty() };
        assert!(settings_json(&s).is_ok());
    }
}
