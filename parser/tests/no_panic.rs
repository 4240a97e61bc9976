//! Arbitrary input never panics the parser: it parses or returns an error.

use proptest::prelude::*;
use rhttpd_parser::{parse, split_words};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        let _ = parse(&source, "fuzz.conf");
        let _ = split_words(&source);
    }

    #[test]
    fn config_shaped_text_never_panics(source in "([<>/\\\\\"' \t\r\n#a-zA-Z${}]{0,12}\n?){0,30}") {
        let _ = parse(&source, "fuzz.conf");
        for line in source.lines() {
            let _ = split_words(line);
        }
    }
}
