//! Per-request state private to one module (Apache's `r->request_config`, nginx's module
//! context): one value per type, so that `Request` carries no module's own fields. A module
//! keeps a type of its own here and nobody else reads it.

use std::any::{Any, TypeId};

/// The module states of one request, each beside its type's id: a lookup compares ids (a
/// constant) instead of asking each boxed value its type through its vtable, and only the
/// state found is downcast.
#[derive(Default)]
pub struct ModuleState(Vec<(TypeId, Box<dyn Any + Send>)>);

impl ModuleState {
    /// The state of type `T`, if its module set any on this request.
    pub fn get<T: Send + 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.0
            .iter()
            .find(|(of, _)| *of == id)
            .and_then(|(_, state)| state.downcast_ref::<T>())
    }

    /// The state of type `T` to write to, created as its default.
    pub fn get_mut<T: Default + Send + 'static>(&mut self) -> &mut T {
        let id = TypeId::of::<T>();
        let at = match self.0.iter().position(|(of, _)| *of == id) {
            Some(at) => at,
            None => {
                self.0.push((id, Box::new(T::default())));
                self.0.len() - 1
            }
        };
        self.0[at]
            .1
            .downcast_mut::<T>()
            .expect("the state at this position has this type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Counter(u32);

    #[derive(Default, Debug, PartialEq)]
    struct Flag(bool);

    #[test]
    fn each_type_has_its_own_slot() {
        let mut state = ModuleState::default();
        assert_eq!(state.get::<Counter>(), None);
        state.get_mut::<Counter>().0 += 2;
        state.get_mut::<Flag>().0 = true;
        state.get_mut::<Counter>().0 += 1;
        assert_eq!(state.get::<Counter>(), Some(&Counter(3)));
        assert_eq!(state.get::<Flag>(), Some(&Flag(true)));
    }
}
