//! A `SettingsResponse` built from fuzz data (any strings, any floats including NaN and
//! infinities, nested sections/tabs/conditions) through `settings_json`: the body must
//! always be a JSON object with fastapi_poe's 15 keys.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use poe_host::guest::bindings::types as wit;
use poe_host::protocol::settings::settings_json;
use serde_json::{Map, Value};

const MAX_ITEMS: usize = 4;

fn list<T>(u: &mut Unstructured<'_>, mut f: impl FnMut(&mut Unstructured<'_>) -> Result<T>) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=MAX_ITEMS)?;
    (0..n).map(|_| f(u)).collect()
}

fn opt<T>(u: &mut Unstructured<'_>, f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
}

fn text_field(u: &mut Unstructured<'_>) -> Result<wit::TextField> {
    Ok(wit::TextField {
        label: u.arbitrary()?,
        description: u.arbitrary()?,
        parameter_name: u.arbitrary()?,
        default_value: u.arbitrary()?,
        placeholder: u.arbitrary()?,
    })
}

fn control(u: &mut Unstructured<'_>) -> Result<wit::Control> {
    Ok(match u.int_in_range(0..=6u8)? {
        0 => wit::Control::Divider,
        1 => wit::Control::TextField(text_field(u)?),
        2 => wit::Control::TextArea(text_field(u)?),
        3 => wit::Control::DropDown(wit::DropDown {
            label: u.arbitrary()?,
            description: u.arbitrary()?,
            parameter_name: u.arbitrary()?,
            default_value: u.arbitrary()?,
            options: list(u, |u| Ok(wit::ValueNamePair { value: u.arbitrary()?, name: u.arbitrary()? }))?,
        }),
        4 => wit::Control::ToggleSwitch(wit::ToggleSwitch {
            label: u.arbitrary()?,
            description: u.arbitrary()?,
            parameter_name: u.arbitrary()?,
            default_value: u.arbitrary()?,
        }),
        5 => wit::Control::Slider(wit::Slider {
            label: u.arbitrary()?,
            description: u.arbitrary()?,
            parameter_name: u.arbitrary()?,
            default_value: u.arbitrary()?,
            min_value: u.arbitrary()?,
            max_value: u.arbitrary()?,
            step: u.arbitrary()?,
        }),
        _ => wit::Control::AspectRatio(wit::AspectRatio {
            label: u.arbitrary()?,
            description: u.arbitrary()?,
            parameter_name: u.arbitrary()?,
            default_value: u.arbitrary()?,
            options: list(u, |u| {
                Ok(wit::AspectRatioOption { value: u.arbitrary()?, width: u.arbitrary()?, height: u.arbitrary()? })
            })?,
        }),
    })
}

fn operand(u: &mut Unstructured<'_>) -> Result<wit::Operand> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => wit::Operand::ParameterName(u.arbitrary()?),
        1 => wit::Operand::Literal(wit::Literal::Text(u.arbitrary()?)),
        2 => wit::Operand::Literal(wit::Literal::Number(u.arbitrary()?)),
        _ => wit::Operand::Literal(wit::Literal::Boolean(u.arbitrary()?)),
    })
}

fn comparator(u: &mut Unstructured<'_>) -> Result<wit::Comparator> {
    use wit::Comparator::*;
    Ok(*u.choose(&[Eq, Ne, Gt, Ge, Lt, Le])?)
}

fn section_control(u: &mut Unstructured<'_>) -> Result<wit::SectionControl> {
    Ok(if u.arbitrary()? {
        wit::SectionControl::Control(control(u)?)
    } else {
        wit::SectionControl::Condition(wit::ConditionControls {
            condition: wit::Condition { comparator: comparator(u)?, left: operand(u)?, right: operand(u)? },
            controls: list(u, control)?,
        })
    })
}

fn section(u: &mut Unstructured<'_>) -> Result<wit::Section> {
    Ok(wit::Section {
        name: u.arbitrary()?,
        controls: opt(u, |u| list(u, section_control))?,
        tabs: opt(u, |u| list(u, |u| Ok(wit::Tab { name: u.arbitrary()?, controls: list(u, section_control)? })))?,
        collapsed_by_default: u.arbitrary()?,
    })
}

fn settings(u: &mut Unstructured<'_>) -> Result<wit::SettingsResponse> {
    Ok(wit::SettingsResponse {
        response_version: u.arbitrary()?,
        context_clear_window_secs: u.arbitrary()?,
        allow_user_context_clear: u.arbitrary()?,
        custom_rate_card: u.arbitrary()?,
        server_bot_dependencies: list(u, |u| Ok((u.arbitrary()?, u.arbitrary()?)))?,
        allow_attachments: u.arbitrary()?,
        introduction_message: u.arbitrary()?,
        expand_text_attachments: u.arbitrary()?,
        enable_image_comprehension: u.arbitrary()?,
        enforce_author_role_alternation: u.arbitrary()?,
        enable_multi_bot_chat_prompting: u.arbitrary()?,
        enable_multi_entity_prompting: u.arbitrary()?,
        rate_card: u.arbitrary()?,
        cost_label: u.arbitrary()?,
        parameter_controls: opt(u, |u| Ok(wit::ParameterControls { sections: list(u, section)? }))?,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(s) = settings(&mut u) else { return };
    let Ok(body) = settings_json(&s) else { return }; // over MAX_SETTINGS_BYTES
    let obj: Map<String, Value> = serde_json::from_slice(&body).expect("settings body is a JSON object");
    assert_eq!(obj.len(), 15, "{}", String::from_utf8_lossy(&body));
    assert_eq!(obj["response_version"], Value::from(s.response_version.unwrap_or(2)));
    assert_eq!(obj["introduction_message"], s.introduction_message.as_deref().map_or(Value::Null, Value::from));
    // Duplicate bot names collapse to one key; every name is present.
    let deps = obj["server_bot_dependencies"].as_object().expect("dependencies are an object");
    for (bot, _) in &s.server_bot_dependencies {
        assert!(deps.contains_key(bot));
    }
    match (&s.parameter_controls, &obj["parameter_controls"]) {
        (None, Value::Null) => {}
        (Some(p), Value::Object(pc)) => {
            assert_eq!(pc["api_version"], "2");
            assert_eq!(pc["sections"].as_array().map(Vec::len), Some(p.sections.len()));
        }
        (p, v) => panic!("parameter_controls {p:?} written as {v}"),
    }
});
