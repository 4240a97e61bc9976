//! The hook points of the request pipeline, as Apache's `ap_hook_*` declare them: each module
//! registers the functions it runs in each phase, with an order; the lists are sorted once when
//! the runtime is built (nginx flattens its phase handlers the same way), so a request never
//! looks anything up. The pipeline (`request/pipeline.rs`) runs each list by its phase's rule:
//! RUN_FIRST phases stop at the first hook that does not decline, RUN_ALL phases run every
//! hook until one ends the request. A module never names another module's hooks, and adding a
//! module is its file plus one line in `modules::HOOKS`.

use std::fmt;
use std::path::PathBuf;

use crate::request::{Request, Response, Step};

/// Where a hook stands among the others of its phase (APR_HOOK_REALLY_FIRST ... REALLY_LAST);
/// hooks of one order run in the order their modules are listed in `modules::HOOKS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Order {
    ReallyFirst,
    First,
    Middle,
    Last,
    ReallyLast,
}

/// One registered hook: the module it belongs to, its order and its function.
pub struct Hook<T> {
    pub module: &'static str,
    pub order: Order,
    pub run: for<'a, 'r> fn(&'a mut Request<'r>) -> Step<T>,
}

/// The hooks of one phase, in the order they run.
pub struct HookList<T>(Vec<Hook<T>>);

impl<T> Default for HookList<T> {
    fn default() -> Self {
        HookList(Vec::new())
    }
}

impl<T> fmt::Debug for HookList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|h| (h.module, h.order)))
            .finish()
    }
}

impl<T> HookList<T> {
    /// Registers `run` for `module` at `order`.
    pub fn add(
        &mut self,
        module: &'static str,
        order: Order,
        run: for<'a, 'r> fn(&'a mut Request<'r>) -> Step<T>,
    ) {
        self.0.push(Hook { module, order, run });
    }

    /// The modules whose hooks run here, in order (for reports such as mod_info's `?hooks`).
    pub fn modules(&self) -> impl Iterator<Item = (&'static str, Order)> + '_ {
        self.0.iter().map(|h| (h.module, h.order))
    }

    /// Sorts by order; a stable sort keeps registration order within one order.
    fn seal(&mut self) {
        self.0.sort_by_key(|h| h.order);
    }
}

impl<T> HookList<Option<T>> {
    /// RUN_FIRST: the first hook that does not decline (`Ok(None)`) gives the phase's answer.
    pub fn run_first(&self, req: &mut Request) -> Step<Option<T>> {
        for hook in &self.0 {
            if let Some(answer) = (hook.run)(req)? {
                return Ok(Some(answer));
            }
        }
        Ok(None)
    }
}

impl HookList<()> {
    /// RUN_ALL: every hook runs; the first error ends the request.
    pub fn run_all(&self, req: &mut Request) -> Step<()> {
        for hook in &self.0 {
            (hook.run)(req)?;
        }
        Ok(())
    }
}

/// What a fixup asks of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixup {
    /// Go on (Apache's OK or DECLINED).
    Continue,
    /// The fixup changed the request's URI (mod_dir's index, FallbackResource): the request
    /// is processed again from translation, as Apache's internal redirect does.
    InternalRedirect,
}

impl HookList<Fixup> {
    /// RUN_ALL, ended early by an internal redirect.
    pub fn run_all(&self, req: &mut Request) -> Step<Fixup> {
        for hook in &self.0 {
            if (hook.run)(req)? == Fixup::InternalRedirect {
                return Ok(Fixup::InternalRedirect);
            }
        }
        Ok(Fixup::Continue)
    }
}

/// Every phase's hooks, in Apache's phase order.
#[derive(Debug, Default)]
pub struct Hooks {
    /// RUN_ALL: once the request is read, before its URI is mapped (mod_ssl's SNI/Host check,
    /// its answer to plain HTTP on a TLS port).
    pub post_read_request: HookList<()>,
    /// RUN_FIRST: the file the URI names (`req.filename`).
    pub translate_name: HookList<Option<PathBuf>>,
    /// RUN_FIRST: the walk from the filename to the resource and its merged configuration.
    pub map_to_storage: HookList<Option<()>>,
    /// RUN_ALL: access control by the client's address and the like (mod_access_compat's
    /// Allow and Deny).
    pub access_checker: HookList<()>,
    /// RUN_FIRST: authorization that needs no user (mod_authz_core's Require without one);
    /// declining asks for authentication.
    pub access_checker_ex: HookList<Option<()>>,
    /// RUN_FIRST: authentication, which sets `req.user` (mod_auth_basic, mod_authn_core).
    pub check_user_id: HookList<Option<()>>,
    /// RUN_FIRST: authorization of the authenticated user (mod_authz_core).
    pub auth_checker: HookList<Option<()>>,
    /// Whether `Satisfy Any` applies to the request (Apache's `ap_satisfies`, an optional
    /// function mod_access_compat provides): the address checks alone may then let it in.
    pub satisfy_any: Option<for<'a, 'r> fn(&'a Request<'r>) -> bool>,
    /// RUN_FIRST: the resource's type, encoding, language and handler (main requests).
    pub type_checker: HookList<Option<()>>,
    /// RUN_ALL: last changes before the handler (sub-requests run them too).
    pub fixups: HookList<Fixup>,
    /// RUN_ALL, just before the handler: the output filters this response passes through
    /// (Apache's insert_filter).
    pub insert_filter: HookList<()>,
    /// RUN_FIRST: the response.
    pub handler: HookList<Option<Response>>,
    /// RUN_ALL, as a response the server makes itself (an error page, a redirect) is sent:
    /// the output filters it passes through (Apache's insert_error_filter).
    pub insert_error_filter: HookList<()>,
    /// The output filters the modules registered, for configurations to name.
    pub output_filters: crate::filters::FilterRegistry<crate::filters::OutputRef>,
    /// The input filters the modules registered.
    pub input_filters: crate::filters::FilterRegistry<crate::filters::InputRef>,
}

/// A module's registration: the hooks it adds.
pub type Register = fn(&mut Hooks);

impl Hooks {
    /// The hooks of the modules `loaded` says are on, from each module's registration in
    /// `registrations` (module id, register function), sorted for running.
    pub fn build(registrations: &[(&str, Register)], loaded: impl Fn(&str) -> bool) -> Hooks {
        let mut hooks = Hooks::default();
        for (id, register) in registrations {
            if loaded(id) {
                register(&mut hooks);
            }
        }
        hooks.post_read_request.seal();
        hooks.translate_name.seal();
        hooks.map_to_storage.seal();
        hooks.access_checker.seal();
        hooks.access_checker_ex.seal();
        hooks.check_user_id.seal();
        hooks.auth_checker.seal();
        hooks.type_checker.seal();
        hooks.fixups.seal();
        hooks.insert_filter.seal();
        hooks.handler.seal();
        hooks.insert_error_filter.seal();
        hooks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &mut Request) -> Step<Option<Response>> {
        Ok(None)
    }

    #[test]
    fn hooks_sort_by_order_and_keep_registration_order_within_one() {
        fn register_a(hooks: &mut Hooks) {
            hooks.handler.add("a", Order::Last, none);
            hooks.handler.add("a", Order::Middle, none);
        }
        fn register_b(hooks: &mut Hooks) {
            hooks.handler.add("b", Order::Middle, none);
            hooks.handler.add("b", Order::ReallyFirst, none);
        }
        fn register_c(hooks: &mut Hooks) {
            hooks.handler.add("c", Order::First, none);
        }
        let registrations: &[(&str, Register)] =
            &[("a", register_a), ("b", register_b), ("c", register_c)];
        let hooks = Hooks::build(registrations, |id| id != "c");
        let order: Vec<_> = hooks.handler.modules().collect();
        assert_eq!(
            order,
            [
                ("b", Order::ReallyFirst),
                ("a", Order::Middle),
                ("b", Order::Middle),
                ("a", Order::Last)
            ]
        );
    }
}
