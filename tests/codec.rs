//! DynamicValue codecs: golden msgpack bytes as Terraform writes them, and round-trip
//! properties over generated types and values.

use freetier::framework::{json, msgpack, Number, Type, Value};
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())))
}

#[test]
fn golden_bytes_decode_to_what_terraform_meant() {
    let ab = Type::object([("a", Type::String), ("b", Type::Number)]);
    let cases: Vec<(&str, &str, Type, Value)> = vec![
        ("unknown, canonical", "d4 00 00", Type::String, Value::Unknown),
        ("unknown, refined (ext 12, not null)", "c7 03 0c 81 01 c2", Type::String, Value::Unknown),
        ("unknown, any other extension", "d5 07 00 00", Type::Number, Value::Unknown),
        ("null", "c0", Type::String, Value::Null),
        ("object with a null attribute", "82 a1 61 a1 78 a1 62 c0", ab.clone(), obj(&[("a", "x".into()), ("b", Value::Null)])),
        ("object with an unknown attribute", "82 a1 61 d4 00 00 a1 62 2a", ab.clone(), obj(&[("a", Value::Unknown), ("b", Value::int(42))])),
        ("whole number as float64", "cb 40 45 00 00 00 00 00 00", Type::Number, Value::int(42)),
        ("negative fixint", "ff", Type::Number, Value::int(-1)),
        ("u64 beyond i64", "cf ff ff ff ff ff ff ff ff", Type::Number, Value::Number("18446744073709551615".parse().unwrap())),
        ("big number as decimal string", "be 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30", Type::Number, Value::Number("123456789012345678901234567890".parse().unwrap())),
        ("empty list of nested blocks", "81 a4 72 75 6c 65 90", Type::object([("rule", Type::list(Type::object([("n", Type::Number)])))]), obj(&[("rule", Value::List(vec![]))])),
        ("dynamic: [type JSON, value]", "92 c4 08 22 73 74 72 69 6e 67 22 a2 68 69", Type::Dynamic, Value::string("hi")),
        ("dynamic list", "92 c4 0f 5b 22 6c 69 73 74 22 2c 22 62 6f 6f 6c 22 5d 91 c3", Type::Dynamic, Value::List(vec![Value::Bool(true)])),
        ("set of strings", "92 a1 62 a1 61", Type::set(Type::String), Value::Set(vec!["a".into(), "b".into()])),
        ("map with unknown element", "81 a1 6b d4 00 00", Type::map(Type::String), Value::Map([("k".to_string(), Value::Unknown)].into())),
    ];
    for (name, bytes, ty, want) in cases {
        let got = msgpack::decode(&hex(bytes), &ty).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn golden_bytes_are_what_we_write() {
    let cases: Vec<(&str, Value, Type, &str)> = vec![
        (
            "unknown is d4 00 00",
            Value::Unknown,
            Type::String,
            "d4 00 00",
        ),
        (
            "every attribute present, null where unset",
            obj(&[("a", "x".into())]),
            Type::object([("a", Type::String), ("b", Type::Number)]),
            "82 a1 61 a1 78 a1 62 c0",
        ),
        (
            "exact int stays int",
            Value::int(300),
            Type::Number,
            "cd 01 2c",
        ),
        (
            "exact float is float64",
            Value::float(1.5),
            Type::Number,
            "cb 3f f8 00 00 00 00 00 00",
        ),
        (
            "dynamic carries its type",
            Value::string("hi"),
            Type::Dynamic,
            "92 c4 08 22 73 74 72 69 6e 67 22 a2 68 69",
        ),
    ];
    for (name, v, ty, bytes) in cases {
        assert_eq!(msgpack::encode(&v, &ty).unwrap(), hex(bytes), "{name}");
    }
    // A decimal no float64 holds exactly is written as its text (a fixstr here).
    let text = "0.1000000000000000000000000001";
    let mut want = vec![0xa0 | text.len() as u8];
    want.extend_from_slice(text.as_bytes());
    assert_eq!(
        msgpack::encode(&Value::Number(text.parse().unwrap()), &Type::Number).unwrap(),
        want
    );
}

#[test]
fn values_of_the_wrong_type_are_errors_with_a_path() {
    let ty = Type::object([("rules", Type::list(Type::object([("port", Type::Number)])))]);
    // {"rules": [{"port": "http"}]}
    let bytes = hex("81 a5 72 75 6c 65 73 91 81 a4 70 6f 72 74 a4 68 74 74 70");
    let err = msgpack::decode(&bytes, &ty).unwrap_err();
    assert_eq!(err.path.to_string(), "rules[0].port");
    assert!(err.message.contains("not a decimal number"), "{err}");
    let err = msgpack::decode(&hex("81 a3 62 61 64 c0"), &ty).unwrap_err();
    assert!(
        err.message.contains("unsupported attribute \"bad\""),
        "{err}"
    );
    assert!(
        msgpack::decode(&hex("92 c4 05 22 66 6f 6f 22 c0"), &Type::Dynamic).is_err(),
        "unknown type name"
    );
    assert!(
        msgpack::decode(&hex("a5 68 69"), &Type::String).is_err(),
        "truncated"
    );
}

#[test]
fn json_state_reads_with_exact_numbers_and_dynamic_wrappers() {
    let ty = Type::object([("n", Type::Number), ("d", Type::Dynamic)]);
    let v = json::decode_bytes(br#"{"n": 123456789012345678901234567890.5, "d": {"type": ["list","string"], "value": ["a"]}}"#, &ty).unwrap();
    assert_eq!(
        v.attr("n").as_number(),
        Some(
            &"123456789012345678901234567890.5"
                .parse::<Number>()
                .unwrap()
        )
    );
    assert_eq!(v.attr("d"), &Value::List(vec!["a".into()]));
}

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![Just(Type::String), Just(Type::Number), Just(Type::Bool)];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Type::Tuple),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(Type::Object),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from_i64),
        any::<u64>().prop_map(Number::from_u64),
        any::<f64>().prop_filter_map("finite", |f| f
            .is_finite()
            .then(|| Number::from_f64(f))
            .flatten()),
        "-?[1-9][0-9]{18,40}(\\.[0-9]{1,30})?".prop_map(|s| s.parse().unwrap()),
    ]
}

fn arb_value(ty: Type, allow_unknown: bool) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::String => ".{0,12}".prop_map(Value::String).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Dynamic => Just(Value::Null).boxed(),
        Type::List(e) => prop::collection::vec(arb_value(*e, allow_unknown), 0..4)
            .prop_map(Value::List)
            .boxed(),
        // Set elements must be distinct for equality to be meaningful; keep them known.
        Type::Set(e) => prop::collection::vec(arb_value(*e, false), 0..4)
            .prop_map(|items| {
                let mut out: Vec<Value> = Vec::new();
                for i in items {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                Value::Set(out)
            })
            .boxed(),
        Type::Map(e) => {
            prop::collection::btree_map("[a-z]{0,5}", arb_value(*e, allow_unknown), 0..4)
                .prop_map(Value::Map)
                .boxed()
        }
        Type::Tuple(es) => es
            .into_iter()
            .map(|e| arb_value(e, allow_unknown))
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        Type::Object(attrs) => attrs
            .into_iter()
            .map(|(k, t)| arb_value(t, allow_unknown).prop_map(move |v| (k.clone(), v)))
            .collect::<Vec<_>>()
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
            .boxed(),
    };
    if allow_unknown {
        prop_oneof![8 => known, 1 => Just(Value::Null), 1 => Just(Value::Unknown)].boxed()
    } else {
        prop_oneof![9 => known, 1 => Just(Value::Null)].boxed()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn msgpack_round_trips_any_value_of_any_type((ty, v) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t, true)))) {
        let bytes = msgpack::encode(&v, &ty).unwrap();
        prop_assert_eq!(msgpack::decode(&bytes, &ty).unwrap(), v);
    }

    #[test]
    fn json_round_trips_known_values((ty, v) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t, false)))) {
        let j = json::encode(&v, &ty).unwrap();
        prop_assert_eq!(json::decode(&j, &ty).unwrap(), v);
    }

    #[test]
    fn dynamic_slots_round_trip_known_values((ty, v) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t, false)))) {
        // Nulls inside lose their concrete type in a dynamic slot, so compare what matters:
        // what comes back re-encodes to the same bytes.
        let _ = ty;
        let bytes = msgpack::encode(&v, &Type::Dynamic).unwrap();
        let back = msgpack::decode(&bytes, &Type::Dynamic).unwrap();
        prop_assert_eq!(msgpack::encode(&back, &Type::Dynamic).unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), ty in arb_type()) {
        let _ = msgpack::decode(&bytes, &ty);
        let _ = msgpack::decode(&bytes, &Type::Dynamic);
        let _ = json::decode_bytes(&bytes, &ty);
    }
}
