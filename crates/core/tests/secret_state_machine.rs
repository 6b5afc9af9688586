//! The secret state machine of [`Service`], property-tested against a model small enough to
//! be obviously right, on the real SQLite store.
//!
//! Random sequences of operations on a few names (create, put with stages, stage moves and
//! removals, enable/disable, delete with a recovery window, restore, immediate delete, time
//! passing and the purge sweep) run against the service and the model side by side. After
//! every step both must agree on the outcome (success, or which error) and on everything a
//! reader sees:
//! - exactly one version carries `Current`, no stage sits on two versions, and the stages
//!   are where the model put them, so `Previous` is the version `Current` replaced;
//! - the values read by stage and by version id are the values written;
//! - a secret pending deletion is listed and described but refuses every read of its value,
//!   and is restorable until purged; a purged or immediately deleted one is gone entirely and
//!   its name free again.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use coffer_core::service::{
    CreateSecret, DeleteMode, PutValue, VersionSelector, WhenExists, WhenFull,
};
use coffer_core::{
    Error, ManualClock, PageRequest, Scope, SecretFilter, SecretKind, SecretRecord, SecretState,
    SecretValue, Service, Stage,
};
use proptest::prelude::*;
use zeroize::Zeroizing;

/// Names the operations pick from: few, so that they meet the same secrets often.
const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const VERSIONS: [&str; 5] = ["v0", "v1", "v2", "v3", "v4"];
/// The put's own cap on versions (the dialects pass theirs; small here so pruning happens).
const MAX_VERSIONS: usize = 4;
const MAX_STAGES: usize = 12;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Current,
    Previous,
    Pending,
    Custom(&'static str),
}

impl Label {
    fn stage(&self) -> Stage {
        match self {
            Label::Current => Stage::Current,
            Label::Previous => Stage::Previous,
            Label::Pending => Stage::Pending,
            Label::Custom(s) => Stage::Custom((*s).to_string()),
        }
    }

    fn of(stage: &Stage) -> Label {
        match stage {
            Stage::Current => Label::Current,
            Stage::Previous => Label::Previous,
            Stage::Pending => Label::Pending,
            Stage::Custom(s) if s == "blue" => Label::Custom("blue"),
            Stage::Custom(s) if s == "green" => Label::Custom("green"),
            Stage::Custom(s) => panic!("a stage nobody set: {s:?}"),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        name: usize,
        version: usize,
        value: String,
    },
    Put {
        name: usize,
        version: usize,
        value: String,
        /// `None`: the default (`[Current]`).
        stages: Option<Vec<Label>>,
    },
    MoveStage {
        name: usize,
        label: Label,
        from: Option<usize>,
        to: Option<usize>,
    },
    SetEnabled {
        name: usize,
        enabled: bool,
    },
    Delete {
        name: usize,
        days: i64,
    },
    DeleteNow {
        name: usize,
    },
    Restore {
        name: usize,
    },
    /// Time passes, then the purge sweep runs.
    Wait {
        hours: i64,
    },
}

/// The error kinds the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    NotFound,
    AlreadyExists,
    InDeleteWindow,
    Invalid,
    Missing,
    InvalidState,
    Disabled,
    LimitExceeded,
}

fn kind(e: &Error) -> Result<Kind, String> {
    Ok(match e {
        Error::NotFound { .. } => Kind::NotFound,
        Error::AlreadyExists { .. } => Kind::AlreadyExists,
        Error::InDeleteWindow { .. } => Kind::InDeleteWindow,
        Error::InvalidParameter { .. } => Kind::Invalid,
        Error::MissingParameter { .. } => Kind::Missing,
        Error::InvalidState { .. } => Kind::InvalidState,
        Error::Disabled { .. } => Kind::Disabled,
        Error::LimitExceeded { .. } => Kind::LimitExceeded,
        other => return Err(format!("an error the model never expects: {other}")),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Enabled,
    Disabled,
    PendingDelete { purge_at: i64 },
}

#[derive(Clone, Debug)]
struct ModelSecret {
    /// Oldest first.
    versions: Vec<(String, String)>,
    /// Which version carries each stage.
    stages: BTreeMap<Label, String>,
    state: State,
}

impl ModelSecret {
    fn value_of(&self, version: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, value)| value.as_str())
    }

    /// The rule of `attach_stage`: a stage moves to the version; when `Current` moves, the
    /// version that had it becomes `Previous`.
    fn attach(&mut self, label: &Label, version: &str) {
        let old = self.stages.get(label).cloned();
        if old.as_deref() == Some(version) {
            return;
        }
        self.stages.insert(label.clone(), version.to_string());
        if *label == Label::Current {
            if let Some(old) = old {
                self.attach(&Label::Previous, &old);
            }
        }
    }
}

#[derive(Default)]
struct Model {
    now: i64,
    secrets: BTreeMap<&'static str, ModelSecret>,
}

impl Model {
    /// Applies `op` and says what the service must answer.
    fn apply(&mut self, op: &Op) -> Result<(), Kind> {
        match op {
            Op::Create {
                name,
                version,
                value,
            } => {
                let name = NAMES[*name];
                if let Some(s) = self.secrets.get(name) {
                    return Err(match s.state {
                        State::PendingDelete { .. } => Kind::InDeleteWindow,
                        _ => Kind::AlreadyExists,
                    });
                }
                let version = VERSIONS[*version].to_string();
                self.secrets.insert(
                    name,
                    ModelSecret {
                        versions: vec![(version.clone(), value.clone())],
                        stages: BTreeMap::from([(Label::Current, version)]),
                        state: State::Enabled,
                    },
                );
                Ok(())
            }
            Op::Put {
                name,
                version,
                value,
                stages,
            } => {
                let s = self.active(*name)?;
                let version = VERSIONS[*version];
                if let Some(stored) = s.value_of(version) {
                    // An existing id compares values, which reads the stored one.
                    if s.state == State::Disabled {
                        return Err(Kind::Disabled);
                    }
                    return if stored == value {
                        Ok(())
                    } else {
                        Err(Kind::AlreadyExists)
                    };
                }
                let mut next = s.clone();
                next.versions.push((version.to_string(), value.clone()));
                for label in stages.clone().unwrap_or_else(|| vec![Label::Current]) {
                    next.attach(&label, version);
                }
                while next.versions.len() > MAX_VERSIONS {
                    let unstaged = next
                        .versions
                        .iter()
                        .position(|(v, _)| !next.stages.values().any(|held| held == v))
                        .ok_or(Kind::LimitExceeded)?;
                    // A new version without a stage is never pruned to make room for itself.
                    if next.versions[unstaged].0 == version {
                        return Err(Kind::LimitExceeded);
                    }
                    next.versions.remove(unstaged);
                }
                *self.active(*name)? = next;
                Ok(())
            }
            Op::MoveStage {
                name,
                label,
                from,
                to,
            } => {
                if from.is_none() && to.is_none() {
                    return Err(Kind::Missing);
                }
                if matches!(label, Label::Current | Label::Previous) && to.is_none() {
                    return Err(Kind::Invalid);
                }
                let s = self.active(*name)?;
                if let Some(from) = from {
                    let from = VERSIONS[*from];
                    if s.value_of(from).is_none() {
                        return Err(Kind::NotFound);
                    }
                    if s.stages.get(label).map(String::as_str) != Some(from) {
                        return Err(Kind::Invalid);
                    }
                }
                match to {
                    Some(to) => {
                        let to = VERSIONS[*to];
                        if s.value_of(to).is_none() {
                            return Err(Kind::NotFound);
                        }
                        s.attach(label, to);
                    }
                    None => {
                        s.stages.remove(label);
                    }
                }
                Ok(())
            }
            Op::SetEnabled { name, enabled } => {
                let s = self.active(*name)?;
                s.state = if *enabled {
                    State::Enabled
                } else {
                    State::Disabled
                };
                Ok(())
            }
            Op::Delete { name, days } => {
                let purge_at = self.now + days * DAY_MS;
                let s = self.secrets.get_mut(NAMES[*name]).ok_or(Kind::NotFound)?;
                s.state = State::PendingDelete { purge_at };
                Ok(())
            }
            Op::DeleteNow { name } => self
                .secrets
                .remove(NAMES[*name])
                .map(|_| ())
                .ok_or(Kind::NotFound),
            Op::Restore { name } => {
                let s = self.secrets.get_mut(NAMES[*name]).ok_or(Kind::NotFound)?;
                if !matches!(s.state, State::PendingDelete { .. }) {
                    return Err(Kind::InvalidState);
                }
                s.state = State::Enabled;
                Ok(())
            }
            Op::Wait { hours } => {
                self.now += hours * 3_600_000;
                let now = self.now;
                self.secrets.retain(|_, s| match s.state {
                    State::PendingDelete { purge_at } => purge_at > now,
                    _ => true,
                });
                Ok(())
            }
        }
    }

    /// A secret that may change: present and not pending deletion.
    fn active(&mut self, name: usize) -> Result<&mut ModelSecret, Kind> {
        let s = self.secrets.get_mut(NAMES[name]).ok_or(Kind::NotFound)?;
        if matches!(s.state, State::PendingDelete { .. }) {
            return Err(Kind::InDeleteWindow);
        }
        Ok(s)
    }
}

fn label() -> impl Strategy<Value = Label> {
    prop_oneof![
        Just(Label::Current),
        Just(Label::Previous),
        Just(Label::Pending),
        Just(Label::Custom("blue")),
        Just(Label::Custom("green")),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    let version = 0..VERSIONS.len();
    let value = "[a-z]{0,6}";
    prop_oneof![
        3 => (name.clone(), version.clone(), value).prop_map(|(name, version, value)| Op::Create {
            name,
            version,
            value,
        }),
        6 => (
            name.clone(),
            version.clone(),
            value,
            prop::option::weighted(0.7, prop::collection::vec(label(), 0..3)),
        )
            .prop_map(|(name, version, value, stages)| Op::Put {
                name,
                version,
                value,
                stages,
            }),
        4 => (
            name.clone(),
            label(),
            prop::option::of(version.clone()),
            prop::option::weighted(0.8, version),
        )
            .prop_map(|(name, label, from, to)| Op::MoveStage {
                name,
                label,
                from,
                to,
            }),
        1 => (name.clone(), any::<bool>()).prop_map(|(name, enabled)| Op::SetEnabled { name, enabled }),
        2 => (name.clone(), 1i64..10).prop_map(|(name, days)| Op::Delete { name, days }),
        1 => name.clone().prop_map(|name| Op::DeleteNow { name }),
        2 => name.prop_map(|name| Op::Restore { name }),
        2 => (1i64..24 * 12).prop_map(|hours| Op::Wait { hours }),
    ]
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

struct Real {
    _dir: tempfile::TempDir,
    service: Arc<Service>,
    clock: Arc<ManualClock>,
    scope: Scope,
}

async fn real() -> Real {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (service, clock) = coffer_store::testkit::clocked_service(dir.path(), "AKIDmodel", "sk")
        .await
        .unwrap_or_else(|e| panic!("service: {e}"));
    let account = service
        .access_key("AKIDmodel")
        .await
        .unwrap_or_else(|e| panic!("key: {e}"))
        .account;
    Real {
        _dir: dir,
        service,
        clock,
        scope: Scope {
            account,
            region: "default".into(),
        },
    }
}

fn text(s: &str) -> SecretValue {
    SecretValue::Text(Zeroizing::new(s.to_string()))
}

async fn run(r: &Real, op: &Op) -> Result<(), Error> {
    let (svc, scope) = (&r.service, &r.scope);
    match op {
        Op::Create {
            name,
            version,
            value,
        } => svc
            .create_secret(
                scope,
                CreateSecret {
                    name: NAMES[*name].into(),
                    description: String::new(),
                    kind: SecretKind::Generic,
                    key: None,
                    tags: vec![],
                    version_id: VERSIONS[*version].into(),
                    value: text(value),
                    extended_config: None,
                    policy: None,
                    subscriptions: vec![],
                },
            )
            .await
            .map(|_| ()),
        Op::Put {
            name,
            version,
            value,
            stages,
        } => svc
            .put_value(
                scope,
                NAMES[*name],
                PutValue {
                    version_id: VERSIONS[*version].into(),
                    value: text(value),
                    stages: stages
                        .as_ref()
                        .map(|l| l.iter().map(Label::stage).collect()),
                    when_full: WhenFull::PruneUnstaged,
                    max_versions: MAX_VERSIONS,
                    max_stages: MAX_STAGES,
                    expires_at: None,
                    when_exists: WhenExists::CompareValue,
                },
            )
            .await
            .map(|_| ()),
        Op::MoveStage {
            name,
            label,
            from,
            to,
        } => svc
            .update_stage(
                scope,
                NAMES[*name],
                label.stage(),
                from.map(|v| VERSIONS[v].to_string()),
                to.map(|v| VERSIONS[v].to_string()),
                MAX_STAGES,
            )
            .await
            .map(|_| ()),
        Op::SetEnabled { name, enabled } => svc
            .set_enabled(scope, NAMES[*name], *enabled)
            .await
            .map(|_| ()),
        Op::Delete { name, days } => svc
            .delete(
                scope,
                NAMES[*name],
                DeleteMode::Window { days: *days },
                |_| Ok(()),
            )
            .await
            .map(|_| ()),
        Op::DeleteNow { name } => svc
            .delete(scope, NAMES[*name], DeleteMode::Immediate, |_| Ok(()))
            .await
            .map(|_| ()),
        Op::Restore { name } => svc
            .restore(scope, NAMES[*name], SecretState::Enabled)
            .await
            .map(|_| ()),
        Op::Wait { hours } => {
            r.clock.advance_millis(hours * 3_600_000);
            svc.purge_due(1000).await.map(|_| ())
        }
    }
}

/// The value a read returns, as text, or the error kind.
async fn read(r: &Real, name: &str, sel: VersionSelector) -> Result<String, Kind> {
    match r.service.get_value(&r.scope, name, &sel).await {
        Ok(v) => Ok(String::from_utf8_lossy(v.value.as_bytes()).into_owned()),
        Err(e) => Err(kind(&e).unwrap_or_else(|m| panic!("{m}"))),
    }
}

/// Everything a reader sees of the service must be what the model holds.
async fn agree(r: &Real, model: &Model) -> Result<(), TestCaseError> {
    for name in NAMES {
        let found = r.service.describe(&r.scope, name).await;
        let Some(m) = model.secrets.get(name) else {
            prop_assert!(
                matches!(found, Err(Error::NotFound { .. })),
                "{name} should not exist: {found:?}"
            );
            let read_any = read(r, name, VersionSelector::default()).await;
            prop_assert_eq!(read_any, Err(Kind::NotFound));
            continue;
        };
        let rec: SecretRecord = found.map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
        let state = match rec.state {
            SecretState::Enabled => State::Enabled,
            SecretState::Disabled => State::Disabled,
            SecretState::PendingDelete { purge_at } => State::PendingDelete {
                purge_at: purge_at.as_millis(),
            },
        };
        prop_assert_eq!(&state, &m.state, "{} state", name);

        let mut ids: Vec<&str> = rec.versions.iter().map(|v| v.version_id.as_str()).collect();
        ids.sort_unstable();
        let mut want: Vec<&str> = m.versions.iter().map(|(v, _)| v.as_str()).collect();
        want.sort_unstable();
        prop_assert_eq!(ids, want, "{} versions", name);

        let mut stages = BTreeMap::new();
        for v in &rec.versions {
            for s in &v.stages {
                let prev = stages.insert(Label::of(s), v.version_id.clone());
                prop_assert!(prev.is_none(), "{name}: stage {s:?} on two versions");
            }
        }
        prop_assert!(stages.contains_key(&Label::Current), "{name}: no Current");
        prop_assert_eq!(&stages, &m.stages, "{} stages", name);

        let by_stage = |label: Label| VersionSelector {
            version_id: None,
            stage: Some(label.stage()),
        };
        let current = read(r, name, VersionSelector::default()).await;
        let previous = read(r, name, by_stage(Label::Previous)).await;
        match m.state {
            State::PendingDelete { .. } => {
                prop_assert_eq!(current, Err(Kind::InDeleteWindow));
                prop_assert_eq!(previous, Err(Kind::InDeleteWindow));
            }
            State::Disabled => {
                prop_assert_eq!(current, Err(Kind::Disabled));
            }
            State::Enabled => {
                let want = m.value_of(&m.stages[&Label::Current]).map(str::to_string);
                prop_assert_eq!(current.ok(), want, "{} current value", name);
                let want_previous = match m.stages.get(&Label::Previous) {
                    Some(v) => Ok(m.value_of(v).unwrap_or_default().to_string()),
                    None => Err(Kind::NotFound),
                };
                prop_assert_eq!(previous, want_previous, "{} previous value", name);
                for (version, value) in &m.versions {
                    let got = read(
                        r,
                        name,
                        VersionSelector {
                            version_id: Some(version.clone()),
                            stage: None,
                        },
                    )
                    .await;
                    prop_assert_eq!(got, Ok(value.clone()), "{} {}", name, version);
                }
            }
        }
    }
    for pending in [None, Some(true), Some(false)] {
        let filter = SecretFilter {
            pending_delete: pending,
            ..SecretFilter::default()
        };
        let page = PageRequest {
            offset: 0,
            limit: 100,
            newest_first: false,
        };
        let listed = r
            .service
            .list(&r.scope, &filter, page)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut names: Vec<String> = listed.items.iter().map(|s| s.name.clone()).collect();
        names.sort();
        let want: Vec<String> = model
            .secrets
            .iter()
            .filter(|(_, s)| {
                pending.is_none_or(|p| p == matches!(s.state, State::PendingDelete { .. }))
            })
            .map(|(n, _)| n.to_string())
            .collect();
        prop_assert_eq!(names, want, "listed with pending_delete={:?}", pending);
    }
    Ok(())
}

/// `default` cases, or `PROPTEST_CASES` when set (to search longer than `cargo test` does).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    // Each case is a fresh store and up to 40 steps; 32 cases take a few seconds.
    #![proptest_config(ProptestConfig { cases: cases(32), ..ProptestConfig::default() })]

    #[test]
    fn the_service_behaves_like_the_model(ops in prop::collection::vec(op(), 1..40)) {
        runtime().block_on(async {
            let r = real().await;
            let mut model = Model { now: r.service.now().as_millis(), ..Model::default() };
            for (step, op) in ops.iter().enumerate() {
                let want = model.apply(op);
                let got = run(&r, op).await.map_err(|e| kind(&e));
                let got = match got {
                    Ok(()) => Ok(()),
                    Err(Ok(k)) => Err(k),
                    Err(Err(message)) => {
                        return Err(TestCaseError::fail(format!("step {step} {op:?}: {message}")))
                    }
                };
                prop_assert_eq!(got, want, "step {} {:?}", step, op);
                agree(&r, &model).await?;
            }
            Ok(())
        })?;
    }
}

/// Runs one sequence of operations against the service and the model, as the property does.
fn check_sequence(ops: &[Op]) -> Result<(), TestCaseError> {
    runtime().block_on(async {
        let r = real().await;
        let mut model = Model {
            now: r.service.now().as_millis(),
            ..Model::default()
        };
        for (step, op) in ops.iter().enumerate() {
            let want = model.apply(op);
            let got = match run(&r, op).await {
                Ok(()) => Ok(()),
                Err(e) => Err(kind(&e)
                    .map_err(|m| TestCaseError::fail(format!("step {step} {op:?}: {m}")))?),
            };
            prop_assert_eq!(got, want, "step {} {:?}", step, op);
            agree(&r, &model).await?;
        }
        Ok(())
    })
}

/// Found while modelling the put: one with an empty stage list into a secret at its version cap
/// whose versions all carry stages pruned the new version itself and failed with an internal
/// error. It is refused as full instead (no dialect sends an empty list today; the core takes
/// one).
#[test]
fn a_put_without_stages_into_a_full_secret() -> Result<(), TestCaseError> {
    let put = |version, stages: Vec<Label>| Op::Put {
        name: 0,
        version,
        value: format!("value {version}"),
        stages: Some(stages),
    };
    check_sequence(&[
        Op::Create {
            name: 0,
            version: 0,
            value: "first".into(),
        },
        put(1, vec![Label::Custom("blue")]),
        put(2, vec![Label::Custom("green")]),
        put(3, vec![Label::Pending]),
        put(4, vec![]),
    ])
}
