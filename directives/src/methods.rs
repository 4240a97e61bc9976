//! The HTTP methods a configuration registers (RegisterHttpMethod, and a `<Limit>` naming one
//! Apache does not know), numbered after Apache's own. Process-wide, as Apache's registry is:
//! filled while the configuration is read, emptied before the next reading.

use std::sync::Mutex;

use crate::modules::core::KNOWN_METHODS;

static REGISTERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<String>> {
    REGISTERED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The method's number: Apache's own first (HEAD is GET's), then the registered ones in order
/// of registration. Names are case-sensitive, as Apache's.
pub fn number(method: &str) -> Option<usize> {
    let method = if method == "HEAD" { "GET" } else { method };
    KNOWN_METHODS.iter().position(|m| *m == method).or_else(|| {
        registry()
            .iter()
            .position(|m| m == method)
            .map(|i| KNOWN_METHODS.len() + i)
    })
}

/// Registers `method` (once) and gives its number.
pub fn register(method: &str) -> usize {
    if let Some(n) = number(method) {
        return n;
    }
    let mut registry = registry();
    registry.push(method.to_string());
    KNOWN_METHODS.len() + registry.len() - 1
}

/// The methods registered so far, in order.
pub fn registered() -> Vec<String> {
    registry().clone()
}

/// The bit `<Limit>` masks and `Require method` use for a method: its number's, the last bit
/// for a method nobody registered.
pub fn bit(method: &str) -> u128 {
    match number(method) {
        Some(n) => 1u128 << n.min(126),
        None => 1u128 << 127,
    }
}

/// Forgets every registration, for a new reading of the configuration.
pub fn reset() {
    registry().clear();
}
