//! The shape of a body, bounded before it is parsed: how deep it nests and how many JSON
//! values it holds, in one pass with no recursion and no allocation.
//!
//! serde_json bounds nesting only where it builds values; the free-form parts kept as raw
//! text (`extra_params`, a message's `parameters`, unknown fields) were passed on at any
//! depth. And parsing costs memory per value, not per byte: a 16 MiB body of 578,521 tiny
//! messages took 470 MB to parse, so the number of values is bounded too.

/// Deepest nesting accepted anywhere in a body (serde_json's own limit).
pub const MAX_NESTING: usize = 128;
/// Most JSON values (array elements and object members, roughly) in one body. A message
/// of a real conversation has about 15, so this is over 10,000 messages; parsing and the
/// WIT copy cost the host a few hundred bytes per value at most.
pub const MAX_VALUES: usize = 200_000;

/// Host memory charged per value against the body budget, on top of the body's bytes:
/// what parsing and the WIT copy cost per value at most. Measured with the worst case, tiny
/// messages (three values each): 66,000 of them, a 1.9 MB body, raised the host's peak RSS
/// by 81 MiB, of which about 25 are the guest's own copy.
pub const BYTES_PER_VALUE: usize = 320;

/// What [`check_shape`] found: proof that a body was checked, and what parsing it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// JSON values counted (at most [`MAX_VALUES`]).
    pub values: usize,
}

impl Shape {
    /// Host memory that parsing the body adds to the body itself, at most.
    pub fn parse_cost(&self) -> usize {
        self.values * BYTES_PER_VALUE
    }
}

/// Why a body's shape is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Nested deeper than [`MAX_NESTING`].
    #[error("the body nests deeper than {MAX_NESTING} levels")]
    TooDeep,
    /// More than [`MAX_VALUES`] values.
    #[error("the body has more than {MAX_VALUES} JSON values")]
    TooManyValues,
}

/// Check `body`'s nesting and value count. Counts every `[`, `{` and `,` outside strings,
/// which is at least the number of containers and members; malformed JSON is left for the
/// parser to name.
pub fn check_shape(body: &[u8]) -> Result<Shape, ShapeError> {
    let (mut depth, mut values) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                values += 1;
                if depth > MAX_NESTING {
                    return Err(ShapeError::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => values += 1,
            _ => continue,
        }
        if values > MAX_VALUES {
            return Err(ShapeError::TooManyValues);
        }
    }
    Ok(Shape { values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        let mut body = br#"{"type":"query","extra_params":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', levels - 1));
        body.extend(std::iter::repeat_n(b']', levels - 1));
        body.push(b'}');
        body
    }

    #[test]
    fn nesting_is_bounded_in_every_position() {
        assert!(check_shape(&nested(MAX_NESTING)).is_ok());
        assert_eq!(check_shape(&nested(MAX_NESTING + 1)), Err(ShapeError::TooDeep));
        assert_eq!(check_shape(&nested(100_000)), Err(ShapeError::TooDeep));
    }

    #[test]
    fn brackets_and_commas_inside_strings_do_not_count() {
        let body = format!(r#"{{"a":"{}\"{}","b":"\\"}}"#, "[{,".repeat(300_000), "]".repeat(10));
        assert_eq!(check_shape(body.as_bytes()), Ok(Shape { values: 2 }));
    }

    #[test]
    fn values_are_bounded() {
        let messages = |n: usize| {
            let one = r#"{"role":"user","content":""}"#;
            format!(r#"{{"query":[{}]}}"#, vec![one; n].join(","))
        };
        assert_eq!(check_shape(messages(50_000).as_bytes()), Ok(Shape { values: 150_001 }));
        assert_eq!(check_shape(messages(70_000).as_bytes()), Err(ShapeError::TooManyValues));
    }
}
