//! What Kong's plugin loader checks of a plugin besides its schema (`load_plugin_handler` in
//! `kong/db/dao/plugins.lua`): from 3.0.0 on, a `VERSION` that is not `x.y.z` or a `PRIORITY`
//! that is not an integer refuses the plugin, and with it `kong start`.

use serde_json::Value;

use super::{KongVersion, check_kong_schema};

/// Checks a plugin version the way Kong 3.0.0 and later do: digits, a dot, digits, a dot,
/// digits, and nothing else. Returns Kong's own refusal text otherwise.
///
/// ```
/// use plugin_abi::schema::check_plugin_version;
/// assert!(check_plugin_version("hello", "1.2.3").is_ok());
/// assert_eq!(
///     check_plugin_version("hello", "1.0.0-beta").unwrap_err(),
///     "Plugin \"hello\" cannot be loaded because its VERSION field does not follow \
///      the \"x.y.z\" format, got: \"1.0.0-beta\""
/// );
/// ```
pub fn check_plugin_version(name: &str, version: &str) -> Result<(), String> {
    if is_plugin_version(version) {
        Ok(())
    } else {
        Err(format!(
            "Plugin \"{name}\" cannot be loaded because its VERSION field does not follow \
             the \"x.y.z\" format, got: \"{version}\""
        ))
    }
}

/// Whether `version` is `x.y.z`: three non-empty runs of digits joined by dots. A `const fn`,
/// so that `#[plugin_abi::plugin]` refuses a bad version at compile time.
///
/// ```
/// use plugin_abi::schema::is_plugin_version;
/// const OK: bool = is_plugin_version("0.1.0");
/// assert!(OK);
/// assert!(!is_plugin_version("1.0"));
/// assert!(!is_plugin_version("1.0.0.0"));
/// ```
pub const fn is_plugin_version(version: &str) -> bool {
    let bytes = version.as_bytes();
    let (mut dots, mut digits, mut i) = (0, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => digits += 1,
            b'.' if digits > 0 => {
                dots += 1;
                digits = 0;
            }
            _ => return false,
        }
        i += 1;
    }
    dots == 2 && digits > 0
}

/// The largest priority, either side of 0, that Kong's Lua numbers hold exactly: 2^53 - 1.
///
/// ```
/// assert_eq!(plugin_abi::schema::MAX_PRIORITY, 9_007_199_254_740_991);
/// ```
pub const MAX_PRIORITY: u64 = (1 << 53) - 1;

/// Checks a plugin priority: Kong 3.0.0 and later want an integer Lua can hold exactly.
///
/// ```
/// use plugin_abi::{schema::check_plugin_priority, serde_json::json};
/// assert!(check_plugin_priority("hello", &json!(1000)).is_ok());
/// assert!(check_plugin_priority("hello", &json!(1.5)).is_err());
/// ```
pub fn check_plugin_priority(name: &str, priority: &Value) -> Result<(), String> {
    match priority.as_f64() {
        Some(p) if p.fract() == 0.0 && p.abs() <= MAX_PRIORITY as f64 => Ok(()),
        _ => Err(format!(
            "Plugin \"{name}\" cannot be loaded because its PRIORITY field is not a valid \
             integer number, got: \"{priority}\""
        )),
    }
}

/// Checks one plugin info as a dump prints it (`{"Name", "Phases", "Version", "Priority",
/// "Schema"}`) the way Kong release `kong` checks it when it loads the plugin: the version and
/// priority rules from 3.0.0 on, and the schema's MetaSchema rules at every release.
///
/// ```
/// use plugin_abi::{schema::{KongVersion, check_kong_info}, serde_json::json};
/// let info = json!({"Name": "go-log", "Phases": ["log"], "Version": "", "Priority": 10,
///     "Schema": {"name": "go-log", "fields": [{"config": {"type": "record", "fields": []}}]}});
/// assert!(check_kong_info(&info, KongVersion::new(2, 8, 0)).is_ok());
/// assert_eq!(check_kong_info(&info, KongVersion::STRICT_INFO).unwrap_err().len(), 1);
/// ```
pub fn check_kong_info(info: &Value, kong: KongVersion) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let name = info.get("Name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        errors.push("plugin info: `Name` must be a non-empty string".to_owned());
    }
    if kong >= KongVersion::STRICT_INFO {
        let version = info.get("Version").and_then(Value::as_str).unwrap_or("nil");
        errors.extend(check_plugin_version(name, version).err());
        let priority = info.get("Priority").unwrap_or(&Value::Null);
        errors.extend(check_plugin_priority(name, priority).err());
    }
    match info.get("Schema") {
        Some(schema) => {
            if schema.get("name").and_then(Value::as_str) != Some(name) {
                errors.push(format!("plugin info: the schema's `name` is not `{name}`"));
            }
            errors.extend(check_kong_schema(schema, kong).err().into_iter().flatten());
        }
        None => errors.push("plugin info: `Schema` is missing".to_owned()),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn versions_are_exactly_three_numbers() {
        for good in ["0.1.0", "10.20.30"] {
            assert!(check_plugin_version("p", good).is_ok(), "{good}");
        }
        for bad in ["", "1.0", "1.0.0.0", "123", "v1.0.0", "1.0.0-rc1", "1..0"] {
            assert!(check_plugin_version("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_and_priority_rules_start_at_3_0() {
        let info = json!({"Name": "p", "Version": "1.0", "Priority": 1.5,
            "Schema": {"name": "p", "fields": [{"config": {"type": "record", "fields": []}}]}});
        assert!(check_kong_info(&info, KongVersion::new(2, 8, 4)).is_ok());
        let e = check_kong_info(&info, KongVersion::STRICT_INFO).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("VERSION"), "{e:?}");
        assert!(e[1].contains("PRIORITY"), "{e:?}");
    }

    #[test]
    fn the_schema_is_checked_for_the_same_release() {
        let info = json!({"Name": "p", "Version": "1.0.0", "Priority": 1,
            "Schema": {"name": "p", "fields": [{"config": {"type": "record", "fields": [
                {"s": {"type": "string", "description": "Ten or more characters."}}]}}]}});
        assert!(check_kong_info(&info, KongVersion::DESCRIPTIONS).is_ok());
        assert_eq!(
            check_kong_info(&info, KongVersion::new(3, 3, 1))
                .unwrap_err()
                .len(),
            1
        );
    }
}
