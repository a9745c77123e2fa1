//! `helpdesk eval-classifier`: trains the in-process classifier on a CSV corpus and reports its
//! quality on a test file, or on a deterministic stratified split when only `--train` is given.

use helpdesk_classify::{evaluate, stratified_split, train, Model, TrainConfig};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Column names tried, in order, when `--text-col` / `--label-col` are not given (BANKING77
/// uses `text,category`, the IT tickets `Document,Topic_group`).
const TEXT_COLUMNS: [&str; 6] = [
    "text",
    "document",
    "body",
    "description",
    "message",
    "subject",
];
const LABEL_COLUMNS: [&str; 6] = [
    "category",
    "topic_group",
    "label",
    "intent",
    "topic",
    "class",
];

pub struct EvalArgs {
    pub train: PathBuf,
    pub test: Option<PathBuf>,
    pub text_col: Option<String>,
    pub label_col: Option<String>,
    /// Fraction held out for testing when there is no `test` file.
    pub split: f64,
    pub seed: u64,
    pub config: TrainConfig,
    pub top_confused: usize,
}

pub type Rows = Vec<(String, String)>;

/// Reads `(text, label)` rows; rows with an empty text or label are skipped.
pub fn read_corpus(
    path: &Path,
    text_col: Option<&str>,
    label_col: Option<&str>,
) -> anyhow::Result<Rows> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let find = |given: Option<&str>, candidates: &[&str], what: &str| -> anyhow::Result<usize> {
        let pos = match given {
            Some(name) => headers.iter().position(|h| h == name),
            None => candidates
                .iter()
                .find_map(|c| headers.iter().position(|h| h.eq_ignore_ascii_case(c))),
        };
        pos.ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no {what} column (headers: {}); name it with --{what}-col",
                path.display(),
                headers.join(", ")
            )
        })
    };
    let t = find(text_col, &TEXT_COLUMNS, "text")?;
    let l = find(label_col, &LABEL_COLUMNS, "label")?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let (Some(text), Some(label)) = (record.get(t), record.get(l)) else {
            continue;
        };
        let (text, label) = (text.trim(), label.trim());
        if !text.is_empty() && !label.is_empty() {
            rows.push((text.to_string(), label.to_string()));
        }
    }
    Ok(rows)
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let all = read_corpus(
        &args.train,
        args.text_col.as_deref(),
        args.label_col.as_deref(),
    )?;
    let (train_rows, test_rows, source) = match &args.test {
        Some(test) => (
            all,
            read_corpus(test, args.text_col.as_deref(), args.label_col.as_deref())?,
            format!("test file {}", test.display()),
        ),
        None => {
            if !(args.split > 0.0 && args.split < 1.0) {
                anyhow::bail!("--split must be between 0 and 1 (exclusive) without --test");
            }
            let labels: Vec<&str> = all.iter().map(|(_, l)| l.as_str()).collect();
            let (tr, te) = stratified_split(&labels, args.split, args.seed);
            let pick = |idx: &[usize]| -> Rows { idx.iter().map(|&i| all[i].clone()).collect() };
            (
                pick(&tr),
                pick(&te),
                format!(
                    "stratified {:.0} % split of {} (seed {})",
                    args.split * 100.0,
                    args.train.display(),
                    args.seed
                ),
            )
        }
    };
    if test_rows.is_empty() {
        anyhow::bail!("nothing to test on");
    }
    let started = Instant::now();
    let model = train(&train_rows, &args.config)?;
    let train_secs = started.elapsed().as_secs_f64();
    let bytes = model.to_bytes();
    // Evaluate what would be stored: the model read back from its bytes.
    let model = Model::from_bytes(&bytes)?;
    let started = Instant::now();
    let predicted: Vec<&str> = test_rows
        .iter()
        .map(|(text, _)| model.label(model.predict(text).label))
        .collect();
    let predict_secs = started.elapsed().as_secs_f64().max(1e-9);
    let truth: Vec<&str> = test_rows.iter().map(|(_, l)| l.as_str()).collect();
    let report = evaluate(&truth, &predicted, args.top_confused);

    let labels = model.labels().len();
    println!(
        "train: {} examples, {labels} labels ({})",
        train_rows.len(),
        args.train.display()
    );
    println!("test:  {} examples ({source})", test_rows.len());
    println!(
        "model: {} weight rows, {:.1} KiB, temperature {:.2}; epochs {}, hash bits {}, learning rate {}, L2 {}, seed {}",
        model.rows(),
        bytes.len() as f64 / 1024.0,
        model.temperature(),
        args.config.epochs,
        args.config.features.hash_bits,
        args.config.learning_rate,
        args.config.l2,
        args.config.seed
    );
    println!("accuracy:   {:.4}", report.accuracy);
    println!("macro-F1:   {:.4}", report.macro_f1);
    println!(
        "train time: {train_secs:.2} s ({:.0} examples/s incl. calibration)",
        train_rows.len() as f64 / train_secs.max(1e-9)
    );
    println!(
        "predictions/s: {:.0} (single thread)",
        test_rows.len() as f64 / predict_secs
    );
    let mut worst: Vec<_> = report.per_class.iter().filter(|c| c.support > 0).collect();
    worst.sort_by(|a, b| a.f1.total_cmp(&b.f1));
    println!("lowest per-class F1:");
    for c in worst.iter().take(5) {
        println!(
            "  {:<40} F1 {:.3}  (P {:.3} R {:.3}, n={})",
            c.label, c.f1, c.precision, c.recall, c.support
        );
    }
    println!("most confused (truth -> predicted: count):");
    for c in &report.confused {
        println!("  {} -> {}: {}", c.truth, c.predicted, c.count);
    }
    Ok(())
}
