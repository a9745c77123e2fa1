//! Response templates: admins keep them (one per name and locale), agents render them for a
//! ticket or reply with one, and `auto_ack` acknowledges new e-mail tickets.
//!
//! | item | pk | sk | index |
//! |---|---|---|---|
//! | template | `TPL#{name}` | `L#{locale}` | gsi1 `TEMPLATES` / `{name}#{locale}` |
//!
//! A template is parsed when it is saved ([`Template::parse`]): an unknown token or unbalanced
//! braces is a 422 naming the field, so a stored template always renders.

use crate::directory::{require, DirectoryPage, Entry};
use crate::ports::{Index, Item, Key, Query, SortKey};
use crate::{AppError, Helpdesk};
use helpdesk_domain::people::parse_locale;
use helpdesk_domain::template::{
    locale_fallbacks, parse_template_name, ResponseTemplate, Template, TemplateValues,
    TEMPLATE_BODY_MAX, TEMPLATE_SUBJECT_MAX,
};
use helpdesk_domain::ticket::parse_category;
use helpdesk_domain::{Actor, Ticket};
use serde::{Deserialize, Serialize};

pub const TEMPLATES_PARTITION: &str = "TEMPLATES";

pub fn template_key(name: &str, locale: &str) -> Key {
    Key::new(format!("TPL#{name}"), format!("L#{locale}"))
}

impl Entry for ResponseTemplate {
    const WHAT: &'static str = "template";
    const PARTITION: &'static str = TEMPLATES_PARTITION;
    fn item(&self) -> Result<Item, AppError> {
        Ok(Item::new(
            template_key(&self.name, &self.locale),
            self.version,
            crate::keys::to_doc(self)?,
        )
        .with_index(
            Index::Gsi1,
            TEMPLATES_PARTITION,
            format!("{}#{}", self.name, self.locale),
        ))
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// A new template.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// `a-z 0-9 _ -`; `auto_ack` acknowledges new e-mail tickets.
    pub name: String,
    /// `en`, `pt-BR`, …
    pub locale: String,
    #[serde(default)]
    pub category: Option<String>,
    /// Subject of mail that starts from this template (acknowledgements). Tokens allowed.
    #[serde(default)]
    pub subject: Option<String>,
    /// Plain text with tokens: `{{customer.first_name}}`, `{{customer.name}}`,
    /// `{{ticket.number}}`, `{{ticket.subject}}`, `{{agent.name}}`, `{{agent.first_name}}`.
    pub body: String,
}

/// A template's new content (name and locale are its address).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateUpdate {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    /// The version read (or send `If-Match`).
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// The template's name.
    pub template: String,
    /// Default: the customer's locale (then its language, then `en`).
    #[serde(default)]
    pub locale: Option<String>,
}

/// A template filled in for one ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RenderedTemplate {
    pub template: String,
    /// The locale whose translation was used.
    pub locale: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub text: String,
    /// The text as HTML, every value escaped.
    pub html: String,
}

fn check_subject(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(s) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if s.chars().count() > TEMPLATE_SUBJECT_MAX || s.chars().any(char::is_control) {
        return Err(AppError::validation(
            "subject",
            format!("must be at most {TEMPLATE_SUBJECT_MAX} characters on one line"),
        ));
    }
    Template::parse_field("subject", s)?;
    Ok(Some(s.to_string()))
}

fn check_body(raw: &str) -> Result<String, AppError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(AppError::validation("body", "must not be empty"));
    }
    if s.len() > TEMPLATE_BODY_MAX {
        return Err(AppError::validation(
            "body",
            format!("must be at most {TEMPLATE_BODY_MAX} bytes"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::validation(
            "body",
            "must not contain control characters",
        ));
    }
    Template::parse_field("body", s)?;
    Ok(s.to_string())
}

fn check_locale(raw: &str) -> Result<String, AppError> {
    parse_locale(raw)
        .map_err(|_| AppError::validation("locale", "must be a language tag such as en or pt-BR"))
}

impl Helpdesk {
    pub async fn list_templates(
        &self,
        actor: &Actor,
        name: Option<&str>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<DirectoryPage<ResponseTemplate>, AppError> {
        require(
            actor.can_work_tickets(),
            "templates are for the support team",
        )?;
        match name {
            None => self.list_entries(limit, cursor).await,
            Some(n) => {
                let n = parse_template_name(n)?;
                let page = self
                    .table
                    .query(
                        &Query::partition(Some(Index::Gsi1), TEMPLATES_PARTITION)
                            .sk(SortKey::BeginsWith(format!("{n}#")))
                            .limit(limit.clamp(1, 200))
                            .cursor(cursor),
                    )
                    .await
                    .map_err(AppError::storage("listing templates"))?;
                Ok(DirectoryPage {
                    items: page
                        .items
                        .iter()
                        .map(crate::keys::from_item)
                        .collect::<Result<_, _>>()?,
                    next_cursor: page.cursor,
                })
            }
        }
    }

    async fn load_template(
        &self,
        name: &str,
        locale: &str,
    ) -> Result<Option<ResponseTemplate>, AppError> {
        self.load_entity(&template_key(name, locale), "reading a template")
            .await
    }

    pub async fn get_template(
        &self,
        actor: &Actor,
        name: &str,
        locale: &str,
    ) -> Result<ResponseTemplate, AppError> {
        require(
            actor.can_work_tickets(),
            "templates are for the support team",
        )?;
        let (name, locale) = (parse_template_name(name)?, check_locale(locale)?);
        self.load_template(&name, &locale)
            .await?
            .ok_or(AppError::NotFound { what: "template" })
    }

    pub async fn create_template(
        &self,
        actor: &Actor,
        input: TemplateInput,
    ) -> Result<ResponseTemplate, AppError> {
        require(actor.can_manage_directory(), "only admins manage templates")?;
        let now = self.clock.now();
        let template = ResponseTemplate {
            name: parse_template_name(&input.name)?,
            locale: check_locale(&input.locale)?,
            category: parse_category(input.category.as_deref().unwrap_or(""))?,
            subject: check_subject(input.subject.as_deref())?,
            body: check_body(&input.body)?,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        self.save_entry(template, None, None, |t, v| t.version = v)
            .await
    }

    pub async fn update_template(
        &self,
        actor: &Actor,
        name: &str,
        locale: &str,
        input: TemplateUpdate,
        if_match: Option<u64>,
    ) -> Result<ResponseTemplate, AppError> {
        require(actor.can_manage_directory(), "only admins manage templates")?;
        let (name, locale) = (parse_template_name(name)?, check_locale(locale)?);
        let category = parse_category(input.category.as_deref().unwrap_or(""))?;
        let subject = check_subject(input.subject.as_deref())?;
        let body = check_body(&input.body)?;
        let previous = self
            .load_template(&name, &locale)
            .await?
            .ok_or(AppError::NotFound { what: "template" })?;
        let next = ResponseTemplate {
            category,
            subject,
            body,
            updated_at: self.clock.now(),
            ..previous.clone()
        };
        self.save_entry(next, Some(&previous), if_match.or(input.version), |t, v| {
            t.version = v
        })
        .await
    }

    pub async fn delete_template(
        &self,
        actor: &Actor,
        name: &str,
        locale: &str,
        if_match: Option<u64>,
    ) -> Result<(), AppError> {
        require(actor.can_manage_directory(), "only admins manage templates")?;
        let (name, locale) = (parse_template_name(name)?, check_locale(locale)?);
        let previous = self
            .load_template(&name, &locale)
            .await?
            .ok_or(AppError::NotFound { what: "template" })?;
        self.delete_entry(
            template_key(&name, &locale),
            "template",
            previous.version,
            if_match,
        )
        .await
    }

    /// The template for `locale`, falling back to its language and then to `en` (one read per
    /// locale tried).
    pub(crate) async fn find_template(
        &self,
        name: &str,
        locale: &str,
    ) -> Result<Option<ResponseTemplate>, AppError> {
        for l in locale_fallbacks(locale) {
            if let Some(t) = self.load_template(name, &l).await? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Fills a template in for a ticket: its customer, number and subject, and the agent asking.
    pub(crate) async fn render_for(
        &self,
        actor: &Actor,
        ticket: &Ticket,
        name: &str,
        locale: Option<&str>,
        field: &'static str,
    ) -> Result<RenderedTemplate, AppError> {
        let name = parse_template_name(name).map_err(|e| match e {
            helpdesk_domain::DomainError::Invalid { message, .. } => {
                AppError::validation(field, message)
            }
            other => other.into(),
        })?;
        let locale = match locale {
            Some(l) => check_locale(l)?,
            None => self
                .load_customer(&ticket.customer.email)
                .await?
                .map(|c| c.locale)
                .unwrap_or_else(helpdesk_domain::people::default_locale),
        };
        let template = self.find_template(&name, &locale).await?.ok_or_else(|| {
            AppError::validation(field, format!("no template {name:?} for {locale} or en"))
        })?;
        let agent_name = match actor.staff_email() {
            Some(email) => match self.load_agent(email).await? {
                Some(a) => a.name,
                None => email.local_part().to_string(),
            },
            None => String::new(),
        };
        let values = TemplateValues::new(
            ticket.customer.name.as_deref(),
            ticket.customer.email.as_str(),
            &ticket.number.to_string(),
            &ticket.subject,
            &agent_name,
        );
        let parse = |src: &str| {
            Template::parse(src).map_err(|e| AppError::internal("parsing a stored template", e))
        };
        let body = parse(&template.body)?;
        let subject = template
            .subject
            .as_deref()
            .map(|s| parse(s).map(|t| t.render_text(&values)))
            .transpose()?;
        Ok(RenderedTemplate {
            template: template.name.clone(),
            locale: template.locale.clone(),
            subject,
            text: body.render_text(&values),
            html: body.render_html(&values),
        })
    }

    /// Renders a template for a ticket (a preview; agents may edit it and post it as a reply).
    pub async fn render_template(
        &self,
        actor: &Actor,
        reference: &str,
        request: RenderRequest,
    ) -> Result<RenderedTemplate, AppError> {
        require(
            actor.can_work_tickets(),
            "templates are for the support team",
        )?;
        let ticket = self
            .resolve_ticket_ref(reference)
            .await?
            .filter(|t| actor.can_read_ticket(t))
            .ok_or(AppError::NotFound { what: "ticket" })?;
        self.render_for(
            actor,
            &ticket,
            &request.template,
            request.locale.as_deref(),
            "template",
        )
        .await
    }
}
