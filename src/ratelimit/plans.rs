//! Plans: quotas picked by the principal's plan (an API-key record's
//! [`plan`](crate::api_key::KeyRecord::plan), or a token claim), each with
//! its `RateLimit-Policy` value rendered once.

use super::answer::PolicyHeaders;
use super::quota::Quota;
use crate::principal::Principal;

/// The claim a token's plan is read from when the principal carries none.
pub(crate) const DEFAULT_PLAN_CLAIM: &str = "plan";

#[derive(Clone)]
pub(crate) struct Plan {
    name: Box<str>,
    pub(crate) quota: Quota,
    /// The layer's policy name with this plan's quota.
    pub(crate) headers: PolicyHeaders,
}

/// The configured plans and where a principal's plan is read.
#[derive(Clone)]
pub(crate) struct Plans {
    list: Vec<Plan>,
    claim: Box<str>,
}

impl Default for Plans {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            claim: DEFAULT_PLAN_CLAIM.into(),
        }
    }
}

impl Plans {
    /// Adds (or replaces) plan `name`.
    pub(crate) fn set(&mut self, name: &str, quota: Quota, policy: &str) {
        let plan = Plan {
            name: name.into(),
            quota,
            headers: PolicyHeaders::new(policy, quota),
        };
        match self.list.iter_mut().find(|p| *p.name == *name) {
            Some(slot) => *slot = plan,
            None => self.list.push(plan),
        }
    }

    pub(crate) fn set_claim(&mut self, claim: &str) {
        self.claim = claim.into();
    }

    /// Renders every plan's headers under a new policy name.
    pub(crate) fn rename(&mut self, policy: &str) {
        for plan in &mut self.list {
            plan.headers = PolicyHeaders::new(policy, plan.quota);
        }
    }

    /// The principal's plan, when it names a configured one: its own
    /// ([`Principal::plan`], from an API-key record), else its plan claim.
    #[inline]
    pub(crate) fn find(&self, principal: &Principal) -> Option<&Plan> {
        if self.list.is_empty() {
            return None;
        }
        let name = match principal.plan() {
            Some(name) => name,
            None => principal.claim(&self.claim)?.as_str()?,
        };
        self.list.iter().find(|plan| *plan.name == *name)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}
