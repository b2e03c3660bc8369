//! The check Kong's `MetaSchema.MetaSubSchema` makes on a plugin schema before it registers it
//! (`kong/db/schema/metaschema.lua`), and the rules of Kong's `Schema` that it applies on the
//! way (a `default` is validated as a value of its own field), release by release. Restricted to
//! the vocabulary a derived schema uses. A schema that passes here for a release is not refused
//! by that release at `kong start`.

use serde_json::{Map, Value};

use super::KongVersion;

/// Field types Kong knows (`Schema.valid_types`) that a plugin config may use.
const TYPES: [&str; 9] = [
    "string", "boolean", "integer", "number", "array", "set", "map", "record", "any",
];

/// Attributes a field declaration may carry at every release, beyond `type` (`description`
/// depends on the release: [`KongVersion::accepts_descriptions`]).
const ATTRIBUTES: [&str; 13] = [
    "required", "default", "elements", "keys", "values", "fields", "one_of", "between", "len_min",
    "len_max", "len_eq", "gt", "match",
];

/// Kong's length bounds on `description` (since it accepts the attribute).
pub const DESCRIPTION_LEN: std::ops::RangeInclusive<usize> = 10..=500;

/// Checks `schema` (`{"name", "fields": [...]}`) the way Kong release `kong` does when it
/// loads it, and returns every violation, each naming the field path.
///
/// ```
/// use plugin_abi::serde_json::json;
/// use plugin_abi::schema::{KongVersion, check_kong_schema};
/// let good = json!({"name": "p", "fields": [{"config": {"type": "record", "fields": [
///     {"n": {"type": "integer", "between": [1, 5]}}]}}]});
/// assert!(check_kong_schema(&good, KongVersion::OLDEST).is_ok());
/// let bad = json!({"name": "p", "fields": [{"config": {"type": "record", "fields": [
///     {"n": {"type": "boolean", "one_of": [true]}}]}}]});
/// assert_eq!(
///     check_kong_schema(&bad, KongVersion::OLDEST).unwrap_err(),
///     ["config.n: a boolean field cannot have `one_of`"]
/// );
/// // Kong's strings are non-empty unless they say `len_min = 0`, defaults included.
/// let empty = json!({"name": "p", "fields": [{"config": {"type": "record", "fields": [
///     {"s": {"type": "string", "default": ""}}]}}]});
/// assert_eq!(
///     check_kong_schema(&empty, KongVersion::OLDEST).unwrap_err(),
///     ["config.s: the default \"\" is shorter than 1 (Kong's strings are non-empty \
///       unless the field says len_min = 0)"]
/// );
/// ```
pub fn check_kong_schema(schema: &Value, kong: KongVersion) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    match schema.get("name") {
        Some(Value::String(name)) if !name.is_empty() => {}
        _ => errors.push("schema: `name` must be a non-empty string".to_owned()),
    }
    if let Some(obj) = schema.as_object() {
        for key in obj
            .keys()
            .filter(|k| !["name", "fields"].contains(&k.as_str()))
        {
            errors.push(format!("schema: unknown attribute `{key}`"));
        }
    }
    match schema.get("fields") {
        Some(fields) => check_fields(fields, "", kong, &mut errors),
        None => errors.push("schema: `fields` is missing".to_owned()),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `fields`: an array of one-key maps, name → declaration.
fn check_fields(fields: &Value, path: &str, kong: KongVersion, errors: &mut Vec<String>) {
    let Some(entries) = fields.as_array() else {
        errors.push(format!("{}: `fields` must be an array", label(path)));
        return;
    };
    for entry in entries {
        match entry.as_object().filter(|e| e.len() == 1) {
            Some(entry) => {
                let (name, decl) = entry.iter().next().expect("one entry");
                let path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                check_field(decl, &path, kong, errors);
            }
            None => errors.push(format!(
                "{}: each entry of `fields` must be a map with exactly one field name",
                label(path)
            )),
        }
    }
}

fn check_field(decl: &Value, path: &str, kong: KongVersion, errors: &mut Vec<String>) {
    let Some(decl) = decl.as_object() else {
        errors.push(format!("{path}: a field declaration must be a map"));
        return;
    };
    let kind = match decl.get("type").and_then(Value::as_str) {
        Some(kind) if TYPES.contains(&kind) => kind,
        Some(other) => {
            errors.push(format!("{path}: `{other}` is not a Kong field type"));
            return;
        }
        None => {
            errors.push(format!("{path}: missing type declaration"));
            return;
        }
    };
    for key in decl.keys().filter(|k| k.as_str() != "type") {
        if key == "description" && !kong.accepts_descriptions() {
            errors.push(format!(
                "{path}: unknown attribute `description` (Kong {kong} does not know it; \
                 Kong knows it from {} on)",
                KongVersion::DESCRIPTIONS
            ));
        } else if key != "description" && !ATTRIBUTES.contains(&key.as_str()) {
            errors.push(format!("{path}: unknown attribute `{key}`"));
        } else if let Some(allowed) = allowed_types(key)
            && !allowed.contains(&kind)
        {
            errors.push(format!("{path}: {} field cannot have `{key}`", a(kind)));
        }
    }
    let required: &[&str] = match kind {
        "array" | "set" => &["elements"],
        "map" => &["keys", "values"],
        "record" => &["fields"],
        _ => &[],
    };
    for attribute in required {
        if !decl.contains_key(*attribute) {
            errors.push(format!(
                "{path}: {} field must declare `{attribute}`",
                a(kind)
            ));
        }
    }
    check_values(decl, path, errors);
    for (nested, suffix) in [("elements", "[]"), ("keys", "{key}"), ("values", "{}")] {
        if let Some(inner) = decl.get(nested) {
            check_field(inner, &format!("{path}{suffix}"), kong, errors);
        }
    }
    if let (Some(fields), "record") = (decl.get("fields"), kind) {
        check_fields(fields, path, kong, errors);
    }
    if let Some(default) = decl.get("default")
        && let Err(why) = conforms(default, decl)
    {
        errors.push(format!("{path}: the default {default} {why}"));
    }
}

/// The attribute values Kong's MetaSchema types: booleans, bounds, lists, lengths.
fn check_values(decl: &Map<String, Value>, path: &str, errors: &mut Vec<String>) {
    let mut bad = |key: &str, want: &str| errors.push(format!("{path}: `{key}` must be {want}"));
    if decl.get("required").is_some_and(|v| !v.is_boolean()) {
        bad("required", "a boolean");
    }
    if let Some(between) = decl.get("between") {
        let ok = between
            .as_array()
            .is_some_and(|b| b.len() == 2 && b.iter().all(Value::is_number));
        if !ok {
            bad("between", "an array of two numbers");
        }
    }
    if decl.get("one_of").is_some_and(|v| !v.is_array()) {
        bad("one_of", "an array");
    }
    for key in ["len_min", "len_max", "len_eq"] {
        if decl.get(key).is_some_and(|v| !v.is_u64()) {
            bad(key, "an integer");
        }
    }
    if let Some(description) = decl.get("description") {
        match description.as_str() {
            // Kong counts bytes or characters depending on its version: require both in range.
            Some(d)
                if DESCRIPTION_LEN.contains(&d.chars().count())
                    && DESCRIPTION_LEN.contains(&d.len()) => {}
            _ => bad("description", "a string of 10 to 500 characters"),
        }
    }
}

/// The field types an attribute is allowed on (`attribute_types` in Kong's MetaSchema).
fn allowed_types(attribute: &str) -> Option<&'static [&'static str]> {
    Some(match attribute {
        "between" | "gt" => &["integer", "number"],
        "one_of" => &["string", "number", "integer"],
        "len_eq" => &["array", "set", "string", "map"],
        "match" => &["string"],
        _ => return None,
    })
}

/// Whether `value` fits the declaration: Kong types `default` as "self", so a default is
/// validated like any value of its field, with the field's implicit rules (a string's
/// `len_min = 1`).
fn conforms(value: &Value, decl: &Map<String, Value>) -> Result<(), String> {
    let kind = decl.get("type").and_then(Value::as_str).unwrap_or("any");
    let ok = match kind {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" | "set" => {
            let Some(items) = value.as_array() else {
                return Err(format!("is not {}", a(kind)));
            };
            if let Some(Value::Object(elements)) = decl.get("elements") {
                for item in items {
                    conforms(item, elements)?;
                }
            }
            true
        }
        "map" => {
            let Some(entries) = value.as_object() else {
                return Err("is not a map".into());
            };
            for (key, item) in entries {
                if let Some(Value::Object(keys)) = decl.get("keys") {
                    conforms(&Value::String(key.clone()), keys)?;
                }
                if let Some(Value::Object(values)) = decl.get("values") {
                    conforms(item, values)?;
                }
            }
            true
        }
        "record" => {
            let Some(entries) = value.as_object() else {
                return Err("is not a record".into());
            };
            let fields = decl.get("fields").and_then(Value::as_array);
            for (name, item) in entries {
                let field = fields
                    .into_iter()
                    .flatten()
                    .find_map(|f| f.get(name))
                    .and_then(Value::as_object);
                if let Some(field) = field {
                    conforms(item, field)?;
                }
            }
            true
        }
        _ => true,
    };
    if !ok {
        return Err(format!("is not {}", a(kind)));
    }
    if let Some(Value::Array(choices)) = decl.get("one_of")
        && !choices.contains(value)
    {
        return Err("is not one of `one_of`".into());
    }
    // Kong matches Lua patterns; the one pattern a derived schema writes is a `Url`'s.
    if decl.get("match").and_then(Value::as_str) == Some(super::url::KONG_MATCH)
        && value.as_str().is_some_and(|text| !super::Url::is_url(text))
    {
        return Err("does not match `match` (an http:// or https:// URL)".into());
    }
    within_lengths(value, kind, decl)?;
    within_bounds(value, decl)
}

/// `len_min`, `len_max` and `len_eq` of strings (characters), arrays, sets and maps. A string
/// without `len_min` has Kong's implicit one: "empty strings are not accepted by default".
fn within_lengths(value: &Value, kind: &str, decl: &Map<String, Value>) -> Result<(), String> {
    let len = match value {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(entries) if kind == "map" => entries.len(),
        _ => return Ok(()),
    };
    let bound = |key: &str| decl.get(key).and_then(Value::as_u64);
    let implicit = kind == "string" && bound("len_min").is_none();
    let min = bound("len_min").or(implicit.then_some(1));
    if let Some(min) = min
        && (len as u64) < min
    {
        let why = if implicit {
            " (Kong's strings are non-empty unless the field says len_min = 0)"
        } else {
            ""
        };
        return Err(format!("is shorter than {min}{why}"));
    }
    if let Some(max) = bound("len_max")
        && len as u64 > max
    {
        return Err(format!("is longer than {max}"));
    }
    if let Some(eq) = bound("len_eq")
        && len as u64 != eq
    {
        return Err(format!("does not have length {eq}"));
    }
    Ok(())
}

/// `between` and `gt` of numbers.
fn within_bounds(value: &Value, decl: &Map<String, Value>) -> Result<(), String> {
    let Some(n) = value.as_f64() else {
        return Ok(());
    };
    if let Some([low, high]) = decl
        .get("between")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        && let (Some(lo), Some(hi)) = (low.as_f64(), high.as_f64())
        && !(lo..=hi).contains(&n)
    {
        return Err(format!("is not between {low} and {high}"));
    }
    if let Some(gt) = decl.get("gt").and_then(Value::as_f64)
        && n <= gt
    {
        return Err(format!("is not greater than {gt}"));
    }
    Ok(())
}

/// `kind` with its article: "an integer", "a string".
fn a(kind: &str) -> String {
    match kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        true => format!("an {kind}"),
        false => format!("a {kind}"),
    }
}

fn label(path: &str) -> &str {
    if path.is_empty() { "schema" } else { path }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{KongVersion, check_kong_schema};

    const V2_0: KongVersion = KongVersion::OLDEST;
    const V3_3: KongVersion = KongVersion::new(3, 3, 1);
    const V3_4: KongVersion = KongVersion::DESCRIPTIONS;

    fn config(fields: serde_json::Value) -> serde_json::Value {
        json!({"name": "p", "fields": [{"config": {"type": "record", "fields": fields}}]})
    }

    fn errors_at(kong: KongVersion, fields: serde_json::Value) -> Vec<String> {
        check_kong_schema(&config(fields), kong).unwrap_err()
    }

    fn errors(fields: serde_json::Value) -> Vec<String> {
        errors_at(V3_4, fields)
    }

    #[test]
    fn nested_declarations_are_checked_with_their_paths() {
        let e = errors(json!([
            {"tags": {"type": "array"}},
            {"limits": {"type": "map", "keys": {"type": "string"}, "values": {"type": "float"}}},
            {"up": {"type": "record", "fields": [{"port": {"type": "integer", "nilable": true}}]}},
        ]));
        assert_eq!(
            e,
            [
                "config.tags: an array field must declare `elements`",
                "config.limits{}: `float` is not a Kong field type",
                "config.up.port: unknown attribute `nilable`",
            ]
        );
    }

    #[test]
    fn descriptions_are_unknown_before_3_4_and_bounded_from_it() {
        let described =
            json!([{"a": {"type": "string", "description": "Ten or more characters."}}]);
        assert!(check_kong_schema(&config(described.clone()), V3_4).is_ok());
        for kong in [V2_0, KongVersion::new(2, 8, 4), V3_3] {
            assert_eq!(
                errors_at(kong, described.clone()),
                [format!(
                    "config.a: unknown attribute `description` (Kong {kong} does not know it; \
                     Kong knows it from 3.4.0 on)"
                )]
            );
        }
        let e = errors(json!([{"a": {"type": "string", "description": "short"}}]));
        assert_eq!(
            e,
            ["config.a: `description` must be a string of 10 to 500 characters"]
        );
        let long = "x".repeat(501);
        assert_eq!(
            errors(json!([{"a": {"type": "string", "description": long}}])).len(),
            1
        );
    }

    #[test]
    fn strings_are_non_empty_unless_they_say_len_min_0() {
        for kong in [V2_0, V3_4] {
            let e = errors_at(kong, json!([{"s": {"type": "string", "default": ""}}]));
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(e[0].contains("is shorter than 1"), "{e:?}");
            let ok = config(json!([{"s": {"type": "string", "len_min": 0, "default": ""}}]));
            assert!(check_kong_schema(&ok, kong).is_ok());
        }
        // Inside arrays and as map keys too.
        let e = errors(json!([
            {"l": {"type": "array", "elements": {"type": "string"}, "default": ["a", ""]}},
            {"m": {"type": "map", "keys": {"type": "string"}, "values": {"type": "integer"},
                   "default": {"": 1}}},
        ]));
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn defaults_must_fit_their_field() {
        let e = errors(json!([
            {"n": {"type": "integer", "default": "5"}},
            {"m": {"type": "string", "one_of": ["a", "b"], "default": "c"}},
            {"l": {"type": "array", "elements": {"type": "integer"}, "default": [1, "x"]}},
            {"b": {"type": "integer", "between": [1, 10], "default": 0}},
            {"g": {"type": "number", "gt": 0, "default": 0}},
            {"x": {"type": "string", "len_max": 2, "default": "abc"}},
            {"q": {"type": "array", "elements": {"type": "integer"}, "len_min": 1, "default": []}},
            {"r": {"type": "record", "fields": [{"port": {"type": "integer", "between": [1, 9]}}],
                   "default": {"port": 10}}},
        ]));
        assert_eq!(e.len(), 8, "{e:?}");
        assert!(e[0].starts_with("config.n: the default \"5\" is not an integer"));
        assert!(e[3].ends_with("is not between 1 and 10"), "{e:?}");
    }

    #[test]
    fn the_wrapper_is_checked_too() {
        let e = check_kong_schema(&json!({"fields": [{"a": 1, "b": 2}], "extra": 1}), V2_0)
            .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
    }
}
