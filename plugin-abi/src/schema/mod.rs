//! Kong config schemas derived from a Rust config type.
//!
//! The type's JSON Schema (from `schemars`, so doc comments, `#[serde(default)]`, renames and
//! enums are all taken into account) is translated into Kong's schema vocabulary: `string`,
//! `boolean`, `integer`, `number`, `array` (`elements`), `map` (`keys`/`values`) and `record`
//! (`fields`, in declaration order), with `required`, `default`, `one_of`, `between` and
//! `description`, `len_min`/`len_max` where the type says so. A type Kong cannot describe is an
//! error naming the field, never a field silently left out, and the result is checked against
//! the rules of every Kong release a plugin server serves ([`check_kong_schema`]) before anyone
//! sees it.
//!
//! What differs between releases is applied when the schema is printed for one
//! ([`for_kong`]): a field's `description` exists only from Kong 3.4.0 on.

mod kong_version;
mod metaschema;
mod plugin_info;
mod url;

use schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::{Map, Value, json};

pub use kong_version::{KongVersion, KongVersionError};
pub use metaschema::{DESCRIPTION_LEN, check_kong_schema};
pub use plugin_info::{
    MAX_PRIORITY, check_kong_info, check_plugin_priority, check_plugin_version, is_plugin_version,
};
pub use url::{Url, UrlError};

/// The schema Kong expects for plugin `name` configured by `C`:
/// `{"name": name, "fields": [{"config": {"type": "record", "fields": [...]}}]}`.
///
/// ```
/// #[plugin_abi::config]
/// struct Config {
///     /// Who to greet.
///     name: String,
///     #[serde(default)]
///     loud: bool,
/// }
/// let schema = plugin_abi::schema::kong_schema::<Config>("greeter").unwrap();
/// assert_eq!(schema["fields"][0]["config"]["fields"][0]["name"]["type"], "string");
/// assert_eq!(schema["fields"][0]["config"]["fields"][0]["name"]["required"], true);
/// assert_eq!(schema["fields"][0]["config"]["fields"][1]["loud"]["type"], "boolean");
/// ```
pub fn kong_schema<C: JsonSchema>(name: &str) -> Result<Value, String> {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let root = generator.into_root_schema_for::<C>();
    let mut config = field(root.as_value(), "config")?;
    // The type's own doc comment describes the Rust type, not a Kong field.
    if let Some(decl) = config.as_object_mut() {
        decl.remove("description");
    }
    if config.get("type").and_then(Value::as_str) != Some("record") {
        return Err(format!(
            "the config type must be a struct with named fields, found {}",
            config["type"]
        ));
    }
    let schema = json!({ "name": name, "fields": [{ "config": config }] });
    check_for_every_kong(&schema)?;
    Ok(schema)
}

/// Checks that every Kong release from [`KongVersion::OLDEST`] on accepts `schema` as
/// [`for_kong`] prints it for that release. The rules change only at
/// [`KongVersion::DESCRIPTIONS`], so the releases on either side of it stand for all.
///
/// ```
/// use plugin_abi::{schema::check_for_every_kong, serde_json::json};
/// let schema = json!({"name": "p", "fields": [{"config": {"type": "record", "fields": [
///     {"s": {"type": "string", "description": "Short"}}]}}]});
/// let e = check_for_every_kong(&schema).unwrap_err();
/// assert!(e.starts_with("Kong 3.4.0 would refuse the config schema"), "{e}");
/// ```
pub fn check_for_every_kong(schema: &Value) -> Result<(), String> {
    for kong in [KongVersion::OLDEST, KongVersion::DESCRIPTIONS] {
        check_kong_schema(&for_kong(schema, kong), kong).map_err(|errors| {
            format!(
                "Kong {kong} would refuse the config schema: {}",
                errors.join("; ")
            )
        })?;
    }
    Ok(())
}

/// `schema` as Kong release `kong` accepts it: without field descriptions before 3.4.0.
///
/// A field *named* `description` stays: it is a key whose value is a declaration, not a string.
///
/// ```
/// use plugin_abi::{schema::{KongVersion, for_kong}, serde_json::json};
/// let schema = json!({"name": "p", "fields": [{"config": {"type": "record", "fields": [
///     {"description": {"type": "string", "description": "What the route is for."}}]}}]});
/// let old = for_kong(&schema, KongVersion::OLDEST);
/// assert_eq!(old["fields"][0]["config"]["fields"][0], json!({"description": {"type": "string"}}));
/// assert_eq!(for_kong(&schema, KongVersion::DESCRIPTIONS), schema);
/// ```
pub fn for_kong(schema: &Value, kong: KongVersion) -> Value {
    let mut schema = schema.clone();
    if !kong.accepts_descriptions() {
        strip_descriptions(&mut schema);
    }
    schema
}

fn strip_descriptions(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.retain(|k, v| !(k == "description" && v.is_string()));
            map.values_mut().for_each(strip_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

/// Translates one JSON Schema node into a Kong field declaration; `path` names it in errors.
fn field(schema: &Value, path: &str) -> Result<Value, String> {
    let schema = non_null(schema);
    let mut decl = Map::new();
    let kind = kind_of(schema).ok_or_else(|| unrepresentable(path, schema))?;
    match kind {
        "string" => {
            decl.insert("type".into(), kind.into());
            lengths(schema, "minLength", "maxLength", &mut decl);
            if schema.get("format").and_then(Value::as_str) == Some(url::FORMAT) {
                decl.insert("match".into(), url::KONG_MATCH.into());
            }
            // A Rust string accepts "", a Kong string does not unless it says so.
            if !decl.contains_key("len_min") && one_of(schema).is_none() {
                decl.insert("len_min".into(), 0.into());
            }
        }
        "boolean" | "number" => {
            decl.insert("type".into(), kind.into());
        }
        "integer" => {
            decl.insert("type".into(), "integer".into());
            if let Some(bounds) = integer_bounds(schema) {
                decl.insert("between".into(), bounds);
            }
        }
        "array" => {
            let items = schema
                .get("items")
                .ok_or_else(|| unrepresentable(path, schema))?;
            let set = schema.get("uniqueItems") == Some(&Value::Bool(true));
            decl.insert("type".into(), if set { "set" } else { "array" }.into());
            decl.insert("elements".into(), field(items, &format!("{path}[]"))?);
            lengths(schema, "minItems", "maxItems", &mut decl);
        }
        "object" => match (schema.get("properties"), schema.get("additionalProperties")) {
            (Some(Value::Object(properties)), _) => {
                decl.insert("type".into(), "record".into());
                decl.insert("fields".into(), record_fields(schema, properties, path)?);
            }
            // A struct with no fields: a plugin with nothing to configure.
            (None, None | Some(Value::Bool(false))) => {
                decl.insert("type".into(), "record".into());
                decl.insert("fields".into(), Value::Array(Vec::new()));
            }
            (None, Some(values @ Value::Object(_))) => {
                decl.insert("type".into(), "map".into());
                decl.insert("keys".into(), json!({"type": "string", "len_min": 0}));
                decl.insert("values".into(), field(values, &format!("{path}{{}}"))?);
            }
            _ => return Err(unrepresentable(path, schema)),
        },
        _ => return Err(unrepresentable(path, schema)),
    }
    if let Some(choices) = one_of(schema) {
        decl.insert("one_of".into(), Value::Array(choices));
    }
    // A null default is no default: Kong sends absent fields as null anyway.
    if let Some(default) = schema.get("default").filter(|d| !d.is_null()) {
        decl.insert("default".into(), default.clone());
    }
    if let Some(Value::String(description)) = schema.get("description") {
        decl.insert("description".into(), reflow(description).into());
    }
    Ok(Value::Object(decl))
}

/// `len_min`/`len_max` from JSON Schema's length keywords (`#[schemars(length(...))]`).
fn lengths(schema: &Value, min: &str, max: &str, decl: &mut Map<String, Value>) {
    for (from, to) in [(min, "len_min"), (max, "len_max")] {
        if let Some(n) = schema.get(from).filter(|n| n.is_u64()) {
            decl.insert(to.into(), n.clone());
        }
    }
}

/// `between` for an integer: the bounds of `#[schemars(range(...))]`, completed with the limits
/// of the Rust type when only one side is given (`u32` is `[0, 4294967295]`). Unbounded types
/// (`i64`) get no `between`.
fn integer_bounds(schema: &Value) -> Option<Value> {
    let (type_min, type_max): (i64, i64) = match schema.get("format").and_then(Value::as_str) {
        Some("uint8") => (0, u8::MAX.into()),
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        // Kong's integers are Lua numbers: exact up to 2^53.
        Some("uint64" | "uint") => (0, (1 << 53) - 1),
        _ => (-((1 << 53) - 1), (1 << 53) - 1),
    };
    let min = schema.get("minimum").and_then(Value::as_i64);
    let max = schema.get("maximum").and_then(Value::as_i64);
    let bounded = min.is_some()
        || max.is_some()
        || schema
            .get("format")
            .is_some_and(|f| f != "int64" && f != "int");
    bounded.then(|| json!([min.unwrap_or(type_min), max.unwrap_or(type_max)]))
}

/// A doc comment as one paragraph per blank line: rustdoc's line breaks are not meant for Kong
/// Manager's field help.
fn reflow(description: &str) -> String {
    description
        .split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn record_fields(
    schema: &Value,
    properties: &Map<String, Value>,
    path: &str,
) -> Result<Value, String> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields = Vec::with_capacity(properties.len());
    for (name, property) in properties {
        let mut decl = field(property, &format!("{path}.{name}"))?;
        let nullable = non_null(property) != property || type_list_has_null(property);
        if required.contains(&name.as_str()) && !nullable && decl.get("default").is_none() {
            decl["required"] = Value::Bool(true);
            // A value the operator must give is never the empty string, unless the type says
            // so (`#[schemars(length(min = 0))]`): Kong's own rule for strings then applies,
            // and its Admin API refuses "" before any instance sees it.
            let explicit = non_null(property).get("minLength").is_some();
            if decl["type"] == "string"
                && !explicit
                && decl.get("one_of").is_none()
                && let Some(decl) = decl.as_object_mut()
            {
                decl.remove("len_min");
            }
        }
        fields.push(json!({ name: decl }));
    }
    Ok(Value::Array(fields))
}

/// `Option<T>` is `{"type": [T, "null"]}` or `{"anyOf": [T, {"type": "null"}]}`: see through it.
fn non_null(schema: &Value) -> &Value {
    if let Some(Value::Array(alternatives)) = schema.get("anyOf") {
        let mut rest = alternatives
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"));
        if let (Some(only), None) = (rest.next(), rest.next()) {
            return only;
        }
    }
    schema
}

fn type_list_has_null(schema: &Value) -> bool {
    schema
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t == "null"))
}

/// The single non-null JSON type of `schema`, also for enums given as `oneOf` of constants.
fn kind_of(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(types)) => {
            let mut rest = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null");
            match (rest.next(), rest.next()) {
                (Some(t), None) => Some(t),
                _ => None,
            }
        }
        _ => {
            let variants = schema.get("oneOf")?.as_array()?;
            let kinds: Vec<&str> = variants.iter().filter_map(kind_of).collect();
            (kinds.len() == variants.len() && kinds.windows(2).all(|w| w[0] == w[1]))
                .then(|| kinds.first().copied())
                .flatten()
        }
    }
}

/// The allowed values of an enum: `enum`, `const`, or `oneOf` of constants.
fn one_of(schema: &Value) -> Option<Vec<Value>> {
    if let Some(Value::Array(values)) = schema.get("enum") {
        return Some(values.iter().filter(|v| !v.is_null()).cloned().collect());
    }
    if let Some(c) = schema.get("const") {
        return Some(vec![c.clone()]);
    }
    let variants = schema.get("oneOf")?.as_array()?;
    variants
        .iter()
        .map(|v| one_of(v).filter(|c| c.len() == 1).map(|mut c| c.remove(0)))
        .collect()
}

fn unrepresentable(path: &str, schema: &Value) -> String {
    format!("config field `{path}` has a type Kong's schema cannot describe: {schema}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;

    const KONG_URL: &str = url::KONG_MATCH;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(JsonSchema, Deserialize, Serialize, Default)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        #[default]
        Fast,
        Safe,
    }

    #[derive(JsonSchema, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        host: String,
        port: Option<u16>,
    }

    #[derive(JsonSchema, Deserialize)]
    #[allow(dead_code)]
    struct Config {
        /// The greeting.
        message: String,
        count: Option<i32>,
        #[serde(default)]
        mode: Mode,
        tags: Vec<String>,
        limits: BTreeMap<String, f64>,
        upstream: Inner,
    }

    fn config_fields() -> Vec<Value> {
        let s = kong_schema::<Config>("t").unwrap();
        assert_eq!(s["name"], "t");
        s["fields"][0]["config"]["fields"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn fields_keep_their_order_and_types() {
        let f = config_fields();
        let names: Vec<&str> = f
            .iter()
            .map(|d| d.as_object().unwrap().keys().next().unwrap().as_str())
            .collect();
        assert_eq!(
            names,
            ["message", "count", "mode", "tags", "limits", "upstream"]
        );
        assert_eq!(
            f[0]["message"],
            json!({"type": "string", "required": true, "description": "The greeting."})
        );
        assert_eq!(f[1]["count"]["type"], "integer");
        assert!(f[1]["count"].get("required").is_none());
        assert_eq!(
            f[3]["tags"],
            json!({"type": "array", "elements": {"type": "string", "len_min": 0}, "required": true})
        );
        assert_eq!(f[4]["limits"]["type"], "map");
        assert_eq!(f[4]["limits"]["values"], json!({"type": "number"}));
    }

    #[test]
    fn enums_become_one_of_with_defaults() {
        let f = config_fields();
        assert_eq!(f[2]["mode"]["type"], "string");
        assert_eq!(f[2]["mode"]["one_of"], json!(["fast", "safe"]));
        assert_eq!(f[2]["mode"]["default"], "fast");
        assert!(f[2]["mode"].get("required").is_none());
    }

    #[test]
    fn nested_records_and_bounded_integers() {
        let f = config_fields();
        let up = &f[5]["upstream"];
        assert_eq!(up["type"], "record");
        assert_eq!(up["fields"][0]["host"]["required"], true);
        assert_eq!(up["fields"][1]["port"]["between"], json!([0, 65535]));
    }

    #[test]
    fn arrays_and_maps_of_records_are_nested_records() {
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Rule {
            /// The header a rule matches.
            #[schemars(length(min = 1, max = 64))]
            header: String,
            weight: Option<u32>,
        }
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Nested {
            #[schemars(length(max = 8))]
            rules: Vec<Rule>,
            by_name: BTreeMap<String, Rule>,
            #[serde(default)]
            modes: Vec<Mode>,
        }
        let s = kong_schema::<Nested>("n").unwrap();
        let f = &s["fields"][0]["config"]["fields"];
        let rule = json!({"type": "record", "fields": [
            {"header": {"type": "string", "len_min": 1, "len_max": 64,
                        "description": "The header a rule matches.", "required": true}},
            {"weight": {"type": "integer", "between": [0, 4294967295u64]}},
        ]});
        assert_eq!(
            f[0]["rules"],
            json!({"type": "array", "elements": rule, "len_max": 8, "required": true})
        );
        assert_eq!(
            f[1]["by_name"],
            json!({"type": "map", "keys": {"type": "string", "len_min": 0}, "values": rule, "required": true})
        );
        assert_eq!(f[2]["modes"]["elements"]["one_of"], json!(["fast", "safe"]));
        assert_eq!(f[2]["modes"]["default"], json!([]));
    }

    #[test]
    fn optional_fields_have_no_null_default() {
        #[derive(JsonSchema, Deserialize, Serialize, Default)]
        #[serde(default)]
        #[allow(dead_code)]
        struct Optional {
            name: Option<String>,
            big: u64,
            signed: i64,
        }
        let s = kong_schema::<Optional>("o").unwrap();
        let f = &s["fields"][0]["config"]["fields"];
        assert_eq!(f[0]["name"], json!({"type": "string", "len_min": 0}));
        assert_eq!(f[1]["big"]["between"], json!([0, 9007199254740991u64]));
        assert_eq!(f[2]["signed"], json!({"type": "integer", "default": 0}));
    }

    #[test]
    fn strings_accept_empty_unless_bounded_or_enumerated() {
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Strings {
            #[serde(default)]
            free: String,
            #[schemars(length(min = 2))]
            bounded: String,
            #[serde(default)]
            mode: Mode,
        }
        let s = kong_schema::<Strings>("s").unwrap();
        let f = &s["fields"][0]["config"]["fields"];
        assert_eq!(
            f[0]["free"],
            json!({"type": "string", "len_min": 0, "default": ""})
        );
        assert_eq!(f[1]["bounded"]["len_min"], 2);
        assert!(f[2]["mode"].get("len_min").is_none());
        for kong in [KongVersion::OLDEST, KongVersion::DESCRIPTIONS] {
            assert_eq!(check_kong_schema(&for_kong(&s, kong), kong), Ok(()));
        }
    }

    #[test]
    fn a_default_that_breaks_its_own_rules_is_an_error() {
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Broken {
            #[serde(default)]
            #[schemars(range(min = 1))]
            count: u16,
        }
        let e = kong_schema::<Broken>("b").unwrap_err();
        assert!(
            e.contains("config.count: the default 0 is not between 1 and 65535"),
            "{e}"
        );
    }

    #[test]
    fn a_config_with_no_fields_is_an_empty_record() {
        #[derive(JsonSchema, Deserialize)]
        struct Nothing {}
        let s = kong_schema::<Nothing>("n").unwrap();
        assert_eq!(
            s["fields"][0]["config"],
            json!({"type": "record", "fields": []})
        );
    }

    #[test]
    fn required_strings_are_non_empty_unless_their_type_says_so() {
        fn default_url() -> Url {
            "http://localhost:8080/".parse().unwrap()
        }
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Strings {
            required: String,
            #[schemars(length(min = 0))]
            may_be_empty: String,
            #[serde(default)]
            defaulted: String,
            optional: Option<String>,
            endpoint: Url,
            #[serde(default = "default_url")]
            fallback: Url,
            backup: Option<Url>,
        }
        let s = kong_schema::<Strings>("s").unwrap();
        let f = &s["fields"][0]["config"]["fields"];
        let m = KONG_URL;
        assert_eq!(
            f,
            &json!([
                {"required": {"type": "string", "required": true}},
                {"may_be_empty": {"type": "string", "len_min": 0, "required": true}},
                {"defaulted": {"type": "string", "len_min": 0, "default": ""}},
                {"optional": {"type": "string", "len_min": 0}},
                {"endpoint": {"type": "string", "match": m, "required": true}},
                {"fallback": {"type": "string", "match": m, "len_min": 0,
                              "default": "http://localhost:8080/"}},
                {"backup": {"type": "string", "match": m, "len_min": 0}},
            ])
        );
        // Kong's rules hold a Url's default to the pattern.
        let mut bad = s.clone();
        bad["fields"][0]["config"]["fields"][5]["fallback"]["default"] = json!("localhost");
        let e = check_for_every_kong(&bad).unwrap_err();
        assert!(e.contains("does not match `match`"), "{e}");
    }

    #[test]
    fn doc_comments_are_reflowed_and_must_fit_kongs_bounds() {
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Documented {
            /// A description written over
            /// two lines.
            ///
            /// And a second paragraph.
            long: String,
        }
        let s = kong_schema::<Documented>("d").unwrap();
        assert_eq!(
            s["fields"][0]["config"]["fields"][0]["long"]["description"],
            "A description written over two lines.\n\nAnd a second paragraph."
        );
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Terse {
            /// Port.
            port: u16,
        }
        let e = kong_schema::<Terse>("t").unwrap_err();
        assert!(
            e.contains("config.port: `description` must be a string of 10 to 500 characters"),
            "{e}"
        );
    }

    #[test]
    fn enums_of_other_types_than_strings_and_numbers_are_refused() {
        #[derive(JsonSchema, Deserialize)]
        #[allow(dead_code)]
        struct Flagged {
            #[schemars(extend("enum" = [true]))]
            on: bool,
        }
        let e = kong_schema::<Flagged>("f").unwrap_err();
        assert!(
            e.contains("config.on: a boolean field cannot have `one_of`"),
            "{e}"
        );
    }

    #[test]
    fn unrepresentable_types_name_the_field() {
        #[derive(JsonSchema)]
        #[allow(dead_code)]
        #[serde(untagged)]
        enum Either {
            A(String),
            B(i64),
        }
        #[derive(JsonSchema)]
        #[allow(dead_code)]
        struct Bad {
            either: Either,
        }
        let e = kong_schema::<Bad>("t").unwrap_err();
        assert!(e.contains("config.either"), "{e}");
    }
}
