//! Fuzzes the msgpack DynamicValue decoder (`framework::msgpack::decode`), which reads every
//! configuration, plan and state Terraform sends: any bytes against any type the provider
//! uses must give a value or an error, never a panic; a value must survive encoding and
//! decoding again unchanged, and the provider's validation of it must not panic either.

#![no_main]

mod common;

use freetier::framework::msgpack;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((target, bytes)) = common::choose(data) else {
        return;
    };
    let Ok(v) = msgpack::decode(bytes, &target.ty) else {
        return;
    };
    let encoded = msgpack::encode(&v, &target.ty).expect("a decoded value encodes");
    let again = msgpack::decode(&encoded, &target.ty).expect("an encoded value decodes");
    assert_eq!(again, v, "a value changed through encode and decode");
    common::exercise(target, &v);
});
