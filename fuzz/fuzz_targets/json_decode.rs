//! Fuzzes the JSON DynamicValue decoder (`framework::json`), which reads stored state in
//! UpgradeResourceState: any bytes against any type the provider uses must give a value or
//! an error, never a panic, strictly and leniently; a value must survive encoding and decoding
//! again unchanged (infinities, which JSON cannot write, aside), and the provider's validation
//! of it must not panic either.

#![no_main]

mod common;

use freetier::framework::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((target, bytes)) = common::choose(data) else {
        return;
    };
    if let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let _ = json::decode_lenient(&parsed, &target.ty);
    }
    let Ok(v) = json::decode_bytes(bytes, &target.ty) else {
        return;
    };
    match json::encode(&v, &target.ty) {
        Ok(encoded) => {
            let again = json::decode(&encoded, &target.ty).expect("an encoded value decodes");
            assert_eq!(again, v, "a value changed through encode and decode");
        }
        // "Inf" reads as a number, as cty spells infinity, but JSON has no infinity to write.
        Err(e) => assert!(
            e.message.contains("infinity"),
            "a decoded value encodes: {e}"
        ),
    }
    common::exercise(target, &v);
});
