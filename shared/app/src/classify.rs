//! AI categorisation with the in-process classifier (`helpdesk-classify`): labelled examples
//! from agents' category decisions, training, and the stored model behind the
//! [`Classifier`] port.
//!
//! Storage: the model's bytes (a few KB to a few MB, over DynamoDB's 400 KB item limit for
//! large label sets) go to the [`BlobStore`] (the data directory locally, S3 in AWS) under a
//! content-addressed key; a small pointer item in the table names the current blob with its
//! checksum and metrics. The pointer's version is the model version: a reader reloads the blob
//! only when it changes, and two trainers racing cannot both win.

use crate::inbound::BlobStore;
use crate::keys::{self, from_item, to_doc};
use crate::ports::{
    Classification, Classifier, Condition, Index, Item, Query, SortKey, Table, WriteOp,
};
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use helpdesk_classify::{evaluate, stratified_split, train, Model, TrainConfig};
use helpdesk_domain::{Actor, ActorRef, FieldChange, Ticket, TicketId, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Fewer labelled tickets than this teach nothing useful; training refuses.
pub const MIN_TRAINING_EXAMPLES: usize = 10;
/// Share of the examples held out to measure a new model (it is then retrained on all).
const HOLDOUT: f64 = 0.2;
const SEED: u64 = 7;
/// The first message is cut here: it is what the classifier sees at routing time too.
const MAX_BODY_CHARS: usize = 4000;

/// One labelled ticket: what the customer wrote and the category an agent chose. One per
/// ticket; a correction replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingExample {
    pub ticket_id: TicketId,
    pub subject: String,
    /// The ticket's first message.
    pub body: String,
    pub label: String,
    pub by: ActorRef,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// The current model: what `GET /api/v1/classifier` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelInfo {
    /// Name reported with every classification, e.g. `linear-v3@2026-11-25T16:00:00Z`.
    pub model: String,
    pub version: u64,
    #[schema(value_type = String, format = DateTime)]
    pub trained_at: Timestamp,
    /// Labelled tickets trained on.
    pub examples: usize,
    pub labels: Vec<String>,
    /// Quality on a stratified held-out slice, measured before the final fit on all examples.
    pub holdout_examples: usize,
    pub holdout_accuracy: f64,
    pub holdout_macro_f1: f64,
    pub train_seconds: f64,
    /// Blob key and SHA-256 of the model bytes.
    pub blob: String,
    pub sha256: String,
    pub bytes: usize,
    /// The newest example's index key: later examples make the schedule retrain.
    #[serde(default)]
    #[schema(ignore)]
    pub newest_example: String,
}

/// What the classifier reads: subject and body as one text (training and prediction alike).
pub fn classifier_text(subject: &str, body: &str) -> String {
    let body: String = body.chars().take(MAX_BODY_CHARS).collect();
    format!("{subject}\n{body}")
}

fn model_name(version: u64, trained_at: &Timestamp) -> String {
    format!(
        "linear-v{version}@{}",
        trained_at.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

fn check_admin(actor: &Actor) -> Result<(), AppError> {
    match actor {
        Actor::System { .. } => Ok(()),
        a if a.can_manage_directory() => Ok(()),
        _ => Err(AppError::Forbidden("only admins train the classifier")),
    }
}

async fn read_pointer(table: &dyn Table) -> Result<Option<(ModelInfo, u64)>, AppError> {
    let item = table
        .get(&keys::classifier_model_key())
        .await
        .map_err(AppError::storage("reading the classifier model pointer"))?;
    match item {
        Some(item) => Ok(Some((from_item(&item)?, item.version))),
        None => Ok(None),
    }
}

impl Helpdesk {
    /// Installs a classifier (the stored model, or a hosted one) for the routing pipeline.
    pub fn with_classifier(mut self, classifier: Arc<dyn Classifier>) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// Enables training, storing models in `blobs`; also installs the [`StoredClassifier`]
    /// unless another classifier was installed first.
    pub fn with_model_store(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        if self.classifier.is_none() {
            self.classifier = Some(Arc::new(StoredClassifier::new(
                self.table.clone(),
                blobs.clone(),
            )));
        }
        self.model_store = Some(blobs);
        self
    }

    pub fn classifier(&self) -> Option<&Arc<dyn Classifier>> {
        self.classifier.as_ref()
    }

    /// The installed classifier's guess; `None` without a classifier or a trained model.
    pub async fn classify(
        &self,
        subject: &str,
        body: &str,
    ) -> Result<Option<Classification>, AppError> {
        match &self.classifier {
            Some(c) => c.classify(subject, body).await,
            None => Ok(None),
        }
    }

    /// The write that records a training example when a team member sets or corrects a
    /// ticket's category (in the same transaction as the change). Nothing for other changes,
    /// for a cleared category, or for the product's own (routing) decisions.
    pub(crate) async fn training_example_write(
        &self,
        actor: &Actor,
        ticket: &Ticket,
        changes: &[FieldChange],
    ) -> Result<Option<WriteOp>, AppError> {
        if !actor.is_staff() || !changes.iter().any(|c| c.field == "category") {
            return Ok(None);
        }
        let Some(label) = ticket.category.clone() else {
            return Ok(None);
        };
        let first = self
            .table
            .query(
                &Query::partition(None, keys::ticket_pk(&ticket.id))
                    .sk(SortKey::BeginsWith("M#".into()))
                    .limit(1),
            )
            .await
            .map_err(AppError::storage("reading a ticket's first message"))?;
        let body = match first.items.first() {
            Some(item) => {
                let m: helpdesk_domain::Message = from_item(item)?;
                m.body_text.chars().take(MAX_BODY_CHARS).collect()
            }
            None => String::new(),
        };
        let example = TrainingExample {
            ticket_id: ticket.id,
            subject: ticket.subject.clone(),
            body,
            label,
            by: actor.reference(),
            at: self.clock.now(),
        };
        Ok(Some(WriteOp::Put {
            item: keys::training_example_item(&example)?,
            condition: Condition::None,
        }))
    }

    /// Every labelled example (paged index query, no scan), with their index keys.
    async fn training_examples_since(
        &self,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<(TrainingExample, String)>, AppError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let mut q = Query::partition(Some(Index::Gsi1), keys::TRAINING_EXAMPLES_PARTITION)
                .limit(limit.unwrap_or(500).min(500))
                .cursor(cursor);
            if let Some(after) = after {
                q = q.sk(SortKey::Gt(after.to_string()));
            }
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("reading training examples"))?;
            for item in &page.items {
                let sk = item
                    .indexes
                    .get(&Index::Gsi1)
                    .map(|ik| ik.sk.clone())
                    .unwrap_or_default();
                out.push((from_item::<TrainingExample>(item)?, sk));
            }
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// The current model's description, `None` before the first training.
    pub async fn classifier_info(&self, actor: &Actor) -> Result<Option<ModelInfo>, AppError> {
        if !actor.is_supervisor() && !matches!(actor, Actor::System { .. }) {
            return Err(AppError::Forbidden(
                "only supervisors and admins see the classifier",
            ));
        }
        Ok(read_pointer(self.table.as_ref()).await?.map(|(i, _)| i))
    }

    /// Trains a model from every labelled ticket, measures it on a held-out slice, retrains on
    /// all and stores it as the new current model.
    pub async fn train_classifier(&self, actor: &Actor) -> Result<ModelInfo, AppError> {
        check_admin(actor)?;
        let Some(blobs) = self.model_store.clone() else {
            return Err(AppError::internal(
                "training the classifier",
                std::io::Error::other("no model store is configured"),
            ));
        };
        let previous = read_pointer(self.table.as_ref()).await?;
        let mut examples = self.training_examples_since(None, None).await?;
        // The index is eventually consistent in DynamoDB: keep one example per ticket.
        examples.sort_by(|a, b| a.0.ticket_id.cmp(&b.0.ticket_id).then(a.1.cmp(&b.1)));
        examples.dedup_by(|later, earlier| {
            if later.0.ticket_id == earlier.0.ticket_id {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        let labels: std::collections::BTreeSet<&str> =
            examples.iter().map(|(e, _)| e.label.as_str()).collect();
        if examples.len() < MIN_TRAINING_EXAMPLES || labels.len() < 2 {
            return Err(AppError::validation(
                "examples",
                format!(
                    "training needs at least {MIN_TRAINING_EXAMPLES} tickets categorised by agents in at least 2 categories; there are {} in {}",
                    examples.len(),
                    labels.len()
                ),
            ));
        }
        let newest_example = examples
            .iter()
            .map(|(_, sk)| sk.clone())
            .max()
            .unwrap_or_default();
        let rows: Vec<(String, String)> = examples
            .iter()
            .map(|(e, _)| (classifier_text(&e.subject, &e.body), e.label.clone()))
            .collect();
        // CPU-bound for up to seconds: off the async workers.
        let trained = tokio::task::spawn_blocking(move || fit_and_measure(&rows))
            .await
            .map_err(|e| AppError::internal("training the classifier", e))??;
        let bytes = trained.model.to_bytes();
        let sha256 = crate::attachments::sha256_hex(&bytes);
        let blob = format!("classifier/models/{sha256}.bin");
        blobs
            .put(&blob, &bytes)
            .await
            .map_err(|e| AppError::internal("storing the classifier model", e))?;
        let (version, condition) = match &previous {
            Some((_, v)) => (v + 1, Condition::VersionIs(*v)),
            None => (1, Condition::NotExists),
        };
        let trained_at = self.clock.now();
        let info = ModelInfo {
            model: model_name(version, &trained_at),
            version,
            trained_at,
            examples: examples.len(),
            labels: trained.model.labels().to_vec(),
            holdout_examples: trained.holdout_examples,
            holdout_accuracy: trained.holdout_accuracy,
            holdout_macro_f1: trained.holdout_macro_f1,
            train_seconds: trained.seconds,
            blob,
            sha256,
            bytes: bytes.len(),
            newest_example,
        };
        let item = Item::new(keys::classifier_model_key(), version, to_doc(&info)?);
        self.table.put(item, condition).await.map_err(|e| match e {
            crate::ports::TableError::ConditionFailed => AppError::Conflict {
                detail: "another training finished first; its model is current".into(),
                current_version: None,
            },
            other => AppError::internal("storing the classifier model pointer", other),
        })?;
        tracing::info!(
            model = %info.model,
            examples = info.examples,
            holdout_accuracy = info.holdout_accuracy,
            "classifier trained"
        );
        Ok(info)
    }

    /// The schedule's retraining: trains when examples arrived since the current model (or
    /// there is no model yet and enough examples). `None` when there was nothing to do.
    pub async fn retrain_classifier_if_needed(&self) -> Result<Option<ModelInfo>, AppError> {
        if self.model_store.is_none() {
            return Ok(None);
        }
        let current = read_pointer(self.table.as_ref()).await?;
        let after = current.as_ref().map(|(i, _)| i.newest_example.clone());
        let newer = self
            .training_examples_since(after.as_deref().filter(|s| !s.is_empty()), Some(1))
            .await?;
        if newer.is_empty() {
            return Ok(None);
        }
        let system = Actor::System {
            job: "classifier-retrain".into(),
        };
        match self.train_classifier(&system).await {
            Ok(info) => Ok(Some(info)),
            // Too few examples yet is not a failure of the schedule.
            Err(AppError::Validation { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

struct Trained {
    model: Model,
    holdout_examples: usize,
    holdout_accuracy: f64,
    holdout_macro_f1: f64,
    seconds: f64,
}

fn fit_and_measure(rows: &[(String, String)]) -> Result<Trained, AppError> {
    let started = std::time::Instant::now();
    let config = TrainConfig::default();
    let labels: Vec<&str> = rows.iter().map(|(_, l)| l.as_str()).collect();
    let (fit_idx, held_idx) = stratified_split(&labels, HOLDOUT, SEED);
    let (mut holdout_accuracy, mut holdout_macro_f1) = (0.0, 0.0);
    if !held_idx.is_empty() {
        let part: Vec<(&str, &str)> = fit_idx
            .iter()
            .map(|&i| (rows[i].0.as_str(), rows[i].1.as_str()))
            .collect();
        if let Ok(m) = train(&part, &config) {
            let truth: Vec<&str> = held_idx.iter().map(|&i| rows[i].1.as_str()).collect();
            let predicted: Vec<&str> = held_idx
                .iter()
                .map(|&i| m.label(m.predict(&rows[i].0).label))
                .collect();
            let report = evaluate(&truth, &predicted, 0);
            holdout_accuracy = report.accuracy;
            holdout_macro_f1 = report.macro_f1;
        }
    }
    let model =
        train(rows, &config).map_err(|e| AppError::validation("examples", e.to_string()))?;
    Ok(Trained {
        model,
        holdout_examples: held_idx.len(),
        holdout_accuracy,
        holdout_macro_f1,
        seconds: started.elapsed().as_secs_f64(),
    })
}

struct Loaded {
    version: u64,
    name: String,
    model: Arc<Model>,
}

/// The [`Classifier`] over the stored model: the pointer item is read on every call (one
/// small get), the model blob only when the pointer names a new version, so a model trained
/// by another process is picked up on the next ticket.
pub struct StoredClassifier {
    table: Arc<dyn Table>,
    blobs: Arc<dyn BlobStore>,
    cache: Mutex<Option<Arc<Loaded>>>,
}

impl StoredClassifier {
    pub fn new(table: Arc<dyn Table>, blobs: Arc<dyn BlobStore>) -> Self {
        Self {
            table,
            blobs,
            cache: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<Arc<Loaded>> {
        // A poisoned lock only means another call panicked mid-swap of an Arc: the value
        // inside is still whole.
        match self.cache.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn store(&self, loaded: Arc<Loaded>) {
        match self.cache.lock() {
            Ok(mut g) => *g = Some(loaded),
            Err(p) => *p.into_inner() = Some(loaded),
        }
    }

    async fn current(&self) -> Result<Option<Arc<Loaded>>, AppError> {
        let Some((info, version)) = read_pointer(self.table.as_ref()).await? else {
            return Ok(None);
        };
        if let Some(c) = self.cached().filter(|c| c.version == version) {
            return Ok(Some(c));
        }
        let bytes = self
            .blobs
            .get(&info.blob)
            .await
            .map_err(|e| AppError::internal("loading the classifier model", e))?
            .ok_or_else(|| {
                AppError::internal(
                    "loading the classifier model",
                    std::io::Error::other(format!("model blob {} is missing", info.blob)),
                )
            })?;
        let digest = crate::attachments::sha256_hex(&bytes);
        if digest != info.sha256 {
            return Err(AppError::internal(
                "loading the classifier model",
                std::io::Error::other(format!(
                    "model blob {} does not match its checksum",
                    info.blob
                )),
            ));
        }
        let model = Model::from_bytes(&bytes)
            .map_err(|e| AppError::internal("loading the classifier model", e))?;
        let loaded = Arc::new(Loaded {
            version,
            name: info.model,
            model: Arc::new(model),
        });
        self.store(loaded.clone());
        Ok(Some(loaded))
    }
}

#[async_trait]
impl Classifier for StoredClassifier {
    async fn classify(
        &self,
        subject: &str,
        body: &str,
    ) -> Result<Option<Classification>, AppError> {
        let Some(loaded) = self.current().await? else {
            return Ok(None);
        };
        let p = loaded.model.predict(&classifier_text(subject, body));
        Ok(Some(Classification {
            category: loaded.model.label(p.label).to_string(),
            confidence: p.confidence,
            model: loaded.name.clone(),
        }))
    }
}
