//! Just enough of CloudFormation to start the deployed stack's functions in a test: reads
//! `template.yaml` (short-form intrinsics kept as YAML tags) and resolves `!Ref`, `!Sub`
//! (`${Param}`, `${Resource}`, `${Resource.Attr}`, `${AWS::Region}`…, `${!Literal}`, and the
//! list form), `!GetAtt`, `!Select`, `!Split`, `!Join`, `!If` / `!Equals` (the template's
//! conditions), `AWS::NoValue`, and `{{resolve:secretsmanager:…}}` dynamic references, against
//! parameter values and the physical ids of the resources a test created.
//!
//! Anything it does not know (an intrinsic, a resource nobody gave an id, a secret) is an error,
//! so a template that grows a dependency the test does not provide fails the test.

use serde_yaml::Value;
use std::collections::BTreeMap;

/// The template and what its references resolve to.
pub struct Template {
    pub doc: Value,
    /// Parameter values (defaults, then the test's overrides).
    pub parameters: BTreeMap<String, String>,
    /// `AWS::Region`, `AWS::AccountId`, …
    pub pseudo: BTreeMap<String, String>,
    /// `!Ref Resource` → its physical id.
    pub refs: BTreeMap<String, String>,
    /// `!GetAtt Resource.Attr` → its value.
    pub attributes: BTreeMap<(String, String), String>,
    /// A secret's reference (its `!Ref`, an ARN) → its value.
    pub secrets: BTreeMap<String, String>,
}

/// A resolved value: `None` for `AWS::NoValue`.
type Resolved = Option<Value>;

fn tag_name(tagged: &serde_yaml::value::TaggedValue) -> String {
    tagged.tag.to_string().trim_start_matches('!').to_string()
}

fn as_str(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a scalar, got {other:?}")),
    }
}

fn seq(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_sequence()
        .ok_or_else(|| format!("expected a list, got {v:?}"))
}

impl Template {
    /// Parses the template; parameters get their defaults (those without one must be given).
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut parameters = BTreeMap::new();
        if let Some(params) = doc.get("Parameters").and_then(Value::as_mapping) {
            for (name, spec) in params {
                let name = as_str(name)?;
                if let Some(default) = spec.get("Default") {
                    parameters.insert(name, as_str(default)?);
                }
            }
        }
        let pseudo = [
            ("AWS::Region", "us-east-1"),
            ("AWS::AccountId", "123456789012"),
            ("AWS::Partition", "aws"),
            ("AWS::URLSuffix", "amazonaws.com"),
            ("AWS::StackName", "helpdesk-test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Ok(Self {
            doc,
            parameters,
            pseudo,
            refs: BTreeMap::new(),
            attributes: BTreeMap::new(),
            secrets: BTreeMap::new(),
        })
    }

    /// The resources of one type: (logical id, properties).
    pub fn resources_of(&self, kind: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if let Some(resources) = self.doc.get("Resources").and_then(Value::as_mapping) {
            for (id, r) in resources {
                if r.get("Type").and_then(Value::as_str) == Some(kind) {
                    if let Ok(id) = as_str(id) {
                        out.push((id, r.get("Properties").cloned().unwrap_or(Value::Null)));
                    }
                }
            }
        }
        out
    }

    /// One resource's whole definition.
    pub fn resource(&self, id: &str) -> Result<&Value, String> {
        self.doc
            .get("Resources")
            .and_then(|r| r.get(id))
            .ok_or_else(|| format!("no resource {id}"))
    }

    /// Whether a resource is created (its condition, if any, holds).
    pub fn is_created(&self, id: &str) -> Result<bool, String> {
        match self.resource(id)?.get("Condition").and_then(Value::as_str) {
            None => Ok(true),
            Some(c) => self.condition(c),
        }
    }

    fn condition(&self, name: &str) -> Result<bool, String> {
        let cond = self
            .doc
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| format!("no condition {name}"))?;
        self.truth(cond)
    }

    fn truth(&self, v: &Value) -> Result<bool, String> {
        let Value::Tagged(t) = v else {
            return Err(format!("not a condition: {v:?}"));
        };
        let args = &t.value;
        match tag_name(t).as_str() {
            "Equals" => {
                let a = seq(args)?;
                let (Some(x), Some(y)) = (a.first(), a.get(1)) else {
                    return Err("!Equals takes two values".into());
                };
                Ok(self.resolve_string(x)? == self.resolve_string(y)?)
            }
            "Not" => Ok(!self.truth(seq(args)?.first().ok_or("!Not takes one")?)?),
            "And" => seq(args)?
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.truth(c)?)),
            "Or" => seq(args)?
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.truth(c)?)),
            "Condition" => self.condition(&as_str(args)?),
            other => Err(format!("unsupported condition function !{other}")),
        }
    }

    fn reference(&self, name: &str) -> Result<Resolved, String> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        self.parameters
            .get(name)
            .or_else(|| self.pseudo.get(name))
            .or_else(|| self.refs.get(name))
            .map(|v| Some(Value::String(v.clone())))
            .ok_or_else(|| format!("!Ref {name}: no parameter value or physical id"))
    }

    fn attribute(&self, resource: &str, attr: &str) -> Result<String, String> {
        self.attributes
            .get(&(resource.to_string(), attr.to_string()))
            .cloned()
            .ok_or_else(|| format!("!GetAtt {resource}.{attr}: unknown"))
    }

    fn substitute(&self, text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if let Some((resource, attr)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                out.push_str(&self.attribute(resource, attr)?);
            } else {
                match self.reference(name)? {
                    Some(v) => out.push_str(&as_str(&v)?),
                    None => return Err(format!("${{{name}}} is AWS::NoValue")),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `{{resolve:secretsmanager:ID:SecretString}}` → the secret's value.
    fn dynamic_references(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{resolve:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "{{resolve:".len()..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed dynamic reference in {text:?}"))?;
            let reference = &after[..end];
            let Some(spec) = reference.strip_prefix("secretsmanager:") else {
                return Err(format!("unsupported dynamic reference {reference:?}"));
            };
            let id = spec
                .strip_suffix(":SecretString")
                .ok_or_else(|| format!("only whole SecretStrings are resolved: {spec:?}"))?;
            out.push_str(
                self.secrets
                    .get(id)
                    .ok_or_else(|| format!("no value for secret {id}"))?,
            );
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves every intrinsic in `v`.
    pub fn resolve(&self, v: &Value) -> Result<Resolved, String> {
        match v {
            Value::String(s) => Ok(Some(Value::String(self.dynamic_references(s)?))),
            Value::Sequence(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Some(r) = self.resolve(item)? {
                        out.push(r);
                    }
                }
                Ok(Some(Value::Sequence(out)))
            }
            Value::Mapping(map) => {
                let mut out = serde_yaml::Mapping::new();
                for (k, item) in map {
                    if let Some(r) = self.resolve(item)? {
                        out.insert(k.clone(), r);
                    }
                }
                Ok(Some(Value::Mapping(out)))
            }
            Value::Tagged(t) => self.intrinsic(&tag_name(t), &t.value),
            other => Ok(Some(other.clone())),
        }
    }

    fn intrinsic(&self, name: &str, args: &Value) -> Result<Resolved, String> {
        let string = |s: String| -> Result<Resolved, String> {
            Ok(Some(Value::String(self.dynamic_references(&s)?)))
        };
        match name {
            "Ref" => self.reference(&as_str(args)?),
            "Sub" => match args {
                Value::Sequence(a) => {
                    let text = as_str(a.first().ok_or("!Sub needs a string")?)?;
                    let mut vars = BTreeMap::new();
                    if let Some(map) = a.get(1).and_then(Value::as_mapping) {
                        for (k, v) in map {
                            vars.insert(as_str(k)?, self.resolve_string(v)?);
                        }
                    }
                    string(self.substitute(&text, &vars)?)
                }
                other => string(self.substitute(&as_str(other)?, &BTreeMap::new())?),
            },
            "GetAtt" => {
                let (resource, attr) = match args {
                    Value::Sequence(a) => (
                        as_str(a.first().ok_or("!GetAtt needs a resource")?)?,
                        as_str(a.get(1).ok_or("!GetAtt needs an attribute")?)?,
                    ),
                    other => {
                        let s = as_str(other)?;
                        let (r, a) = s
                            .split_once('.')
                            .ok_or_else(|| format!("!GetAtt {s}: no attribute"))?;
                        (r.to_string(), a.to_string())
                    }
                };
                string(self.attribute(&resource, &attr)?)
            }
            "Select" => {
                let a = seq(args)?;
                let index: usize = self
                    .resolve_string(a.first().ok_or("!Select needs an index")?)?
                    .parse()
                    .map_err(|_| "!Select: the index is not a number")?;
                let list = self
                    .resolve(a.get(1).ok_or("!Select needs a list")?)?
                    .ok_or("!Select of NoValue")?;
                seq(&list)?
                    .get(index)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| format!("!Select: no item {index}"))
            }
            "Split" => {
                let a = seq(args)?;
                let delimiter = as_str(a.first().ok_or("!Split needs a delimiter")?)?;
                let text = self.resolve_string(a.get(1).ok_or("!Split needs a string")?)?;
                Ok(Some(Value::Sequence(
                    text.split(delimiter.as_str())
                        .map(|p| Value::String(p.to_string()))
                        .collect(),
                )))
            }
            "Join" => {
                let a = seq(args)?;
                let delimiter = as_str(a.first().ok_or("!Join needs a delimiter")?)?;
                let list = self
                    .resolve(a.get(1).ok_or("!Join needs a list")?)?
                    .ok_or("!Join of NoValue")?;
                let parts: Result<Vec<String>, String> = seq(&list)?.iter().map(as_str).collect();
                string(parts?.join(&delimiter))
            }
            "If" => {
                let a = seq(args)?;
                let cond = as_str(a.first().ok_or("!If needs a condition")?)?;
                // Only the branch taken is resolved (the other may name a resource that the
                // condition leaves out).
                let branch = if self.condition(&cond)? {
                    a.get(1)
                } else {
                    a.get(2)
                };
                self.resolve(branch.ok_or("!If needs two branches")?)
            }
            other => Err(format!("unsupported intrinsic !{other}")),
        }
    }

    /// Resolves `v` to one string.
    pub fn resolve_string(&self, v: &Value) -> Result<String, String> {
        match self.resolve(v)? {
            Some(r) => as_str(&r),
            None => Err("AWS::NoValue where a string is needed".into()),
        }
    }

    /// A serverless function's environment: the globals' variables, then its own, resolved
    /// (a variable that resolves to `AWS::NoValue` is left out).
    pub fn function_environment(&self, id: &str) -> Result<BTreeMap<String, String>, String> {
        let mut env = BTreeMap::new();
        let globals = self
            .doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"));
        let own = self
            .resource(id)?
            .get("Properties")
            .and_then(|p| p.get("Environment"))
            .and_then(|e| e.get("Variables"));
        for vars in [globals, own].into_iter().flatten() {
            let Some(map) = vars.as_mapping() else {
                return Err(format!("{id}: Environment.Variables is not a map"));
            };
            for (k, v) in map {
                let name = as_str(k)?;
                match self.resolve(v).map_err(|e| format!("{id} {name}: {e}"))? {
                    Some(value) => {
                        env.insert(name, as_str(&value)?);
                    }
                    None => {
                        env.remove(&name);
                    }
                }
            }
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
Parameters:
  Address: { Type: String, Default: support@help.example.com }
  Mode: { Type: String, Default: embedded }
Conditions:
  OnSearch: !Equals [!Ref Mode, opensearch]
Globals:
  Function:
    Environment:
      Variables:
        RUST_LOG: info
Resources:
  Key: { Type: AWS::SecretsManager::Secret }
  Queue: { Type: AWS::SQS::Queue }
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          DOMAIN: !Select [1, !Split ["@", !Ref Address]]
          URL: !Sub https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}
          KEY: !Sub "{{resolve:secretsmanager:${Key}:SecretString}}"
          ARN: !GetAtt Queue.Arn
          SEARCH: !If [OnSearch, !GetAtt Search.Endpoint, ""]
          GONE: !If [OnSearch, x, !Ref AWS::NoValue]
          LIT: !Sub "${!Keep}-${Name}"
          JOINED: !Join [",", [a, !Ref Mode]]
"#;

    #[test]
    fn intrinsics_resolve() {
        let mut t = Template::parse(DOC).expect("parse");
        t.refs.insert("Api".into(), "abc123".into());
        t.refs.insert("Key".into(), "arn:secret:key".into());
        t.secrets.insert("arn:secret:key".into(), "s3cr3t".into());
        t.attributes
            .insert(("Queue".into(), "Arn".into()), "arn:aws:sqs:q".into());
        t.parameters.insert("Name".into(), "n".into());
        let env = t.function_environment("Fn").expect("env");
        assert_eq!(env["RUST_LOG"], "info");
        assert_eq!(env["DOMAIN"], "help.example.com");
        assert_eq!(
            env["URL"],
            "https://abc123.execute-api.us-east-1.amazonaws.com"
        );
        assert_eq!(env["KEY"], "s3cr3t");
        assert_eq!(env["ARN"], "arn:aws:sqs:q");
        assert_eq!(env["SEARCH"], "", "the branch not taken is never resolved");
        assert!(!env.contains_key("GONE"));
        assert_eq!(env["LIT"], "${Keep}-n");
        assert_eq!(env["JOINED"], "a,embedded");
        // What nobody provided is an error, never a silent blank.
        t.parameters.insert("Mode".into(), "opensearch".into());
        assert!(t.function_environment("Fn").is_err());
    }
}
