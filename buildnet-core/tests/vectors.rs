//! The shared hash vectors (`tests/vectors/hashes.json`, made with b3sum and xxhsum) hold for the
//! engine's hashing, in memory and from files. Every binding's tests read the same file.

use buildnet_core::hash;

fn vectors() -> Vec<(String, Vec<u8>, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/hashes.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let data = match v["utf8"].as_str() {
                Some(text) => text.as_bytes().to_vec(),
                None => {
                    let len = v["generate"]["length"].as_u64().unwrap() as usize;
                    (0..len).map(|i| (i % 251) as u8).collect()
                }
            };
            (
                v["name"].as_str().unwrap().to_string(),
                data,
                v["blake3"].as_str().unwrap().to_string(),
                v["xxh3_64"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn engine_hashes_match_the_shared_vectors() {
    let all = vectors();
    assert!(all.len() >= 5);
    let dir = tempfile::tempdir().unwrap();
    for (name, data, blake3, xxh3) in all {
        assert_eq!(hash::blake3(&data).to_hex().as_str(), blake3, "{name}");
        assert_eq!(format!("{:016x}", hash::xxh3_64(&data)), xxh3, "{name}");
        let file = dir.path().join(&name);
        std::fs::write(&file, &data).unwrap();
        assert_eq!(
            hash::blake3_file(&file).unwrap().to_hex().as_str(),
            blake3,
            "{name}"
        );
        assert_eq!(
            format!("{:016x}", hash::xxh3_file(&file).unwrap()),
            xxh3,
            "{name}"
        );
    }
}
