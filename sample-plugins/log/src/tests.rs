use plugin_abi::testkit::{SimulatedKong, TestRequest, UpstreamResponse, configure};
use serde_json::json;

use super::Log;

fn temp_file(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pluginhost-log-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn writes_one_json_line_per_request() {
    let path = temp_file("lines");
    let plugin: Log = configure(json!({"path": path, "reopen": null})).unwrap();
    for status in [200, 404] {
        let kong = SimulatedKong::new(TestRequest::get("http://a/items?id=7"))
            .with_upstream_response(UpstreamResponse::new(status));
        kong.run_request(&plugin).unwrap();
    }
    let logged = lines(&path);
    assert_eq!(logged.len(), 2);
    assert_eq!(logged[0]["request"]["querystring"]["id"], "7");
    assert_eq!(logged[1]["response"]["status"], 404);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn reopen_survives_rotation() {
    let path = temp_file("rotate");
    let plugin: Log = configure(json!({"path": path, "reopen": true})).unwrap();
    let request = || SimulatedKong::new(TestRequest::get("http://a/"));
    request().run_request(&plugin).unwrap();
    let rotated = path.with_extension("1");
    std::fs::rename(&path, &rotated).unwrap();
    request().run_request(&plugin).unwrap();
    assert_eq!(lines(&path).len(), 1);
    assert_eq!(lines(&rotated).len(), 1);
    std::fs::remove_file(path).unwrap();
    std::fs::remove_file(rotated).unwrap();
}

#[test]
fn an_empty_path_is_refused_at_start() {
    let err = configure::<Log>(json!({"path": ""})).err().unwrap();
    assert!(err.contains("config.path"), "{err}");
    let err = configure::<Log>(json!({})).err().unwrap();
    assert!(err.contains("missing field `path`"), "{err}");
}
