//! Finding elements as a person names them: by the text of their label, or by role and
//! accessible name. The matching runs as one script in the page; it approximates the
//! accessibility tree's names (enough for forms, buttons, links and headings) without claiming
//! to be the full algorithm.

use anyhow::{Context as _, bail};
use fantoccini::{
    Client,
    elements::{Element, ElementRef},
};
use serde_json::{Value, json};

/// The key under which WebDriver serializes an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Shared by both lookups: `norm` collapses whitespace, `visible` drops what is not rendered
/// (as the accessibility tree does), `textOf` reads the text of the elements named by ids.
const HELPERS: &str = r#"
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const visible = (el) => !el.checkVisibility || el.checkVisibility() || el.type === 'hidden';
const textOf = (ids) => norm(ids.split(/\s+/)
    .map((id) => { const e = document.getElementById(id); return e ? e.textContent : ''; })
    .join(' '));
"#;

const BY_LABEL: &str = r#"
const wanted = norm(arguments[0]);
const found = new Set();
const seen = [];
for (const label of document.querySelectorAll('label')) {
  // The label's own words, without those of a control inside it (a select's options).
  const copy = label.cloneNode(true);
  copy.querySelectorAll('input, select, textarea, button').forEach((e) => e.remove());
  const text = norm(copy.textContent);
  seen.push(text);
  if (text === wanted && label.control) found.add(label.control);
}
for (const el of document.querySelectorAll('[aria-label], [aria-labelledby]')) {
  const by = el.getAttribute('aria-labelledby');
  const text = by ? textOf(by) : norm(el.getAttribute('aria-label'));
  seen.push(text);
  if (text === wanted) found.add(el);
}
return { elements: [...found].filter(visible), seen };
"#;

const BY_ROLE: &str = r#"
const [role, wanted] = [arguments[0], norm(arguments[1])];
const implicit = {
  button: 'button, input[type=submit], input[type=button], input[type=reset], input[type=image], summary',
  link: 'a[href], area[href]',
  heading: 'h1, h2, h3, h4, h5, h6',
  textbox: 'input:not([type]), input[type=text], input[type=email], input[type=tel], input[type=url], input[type=password], textarea',
  searchbox: 'input[type=search]',
  checkbox: 'input[type=checkbox]',
  radio: 'input[type=radio]',
  combobox: 'select:not([multiple])',
  listbox: 'select[multiple]',
  option: 'option',
  table: 'table',
  row: 'tr',
  cell: 'td',
  columnheader: 'thead th, th[scope=col]',
  rowheader: 'th[scope=row]',
  list: 'ul, ol',
  listitem: 'li',
  navigation: 'nav',
  main: 'main',
  banner: 'body > header',
  contentinfo: 'body > footer',
  form: 'form[aria-label], form[aria-labelledby]',
  region: 'section[aria-label], section[aria-labelledby]',
  dialog: 'dialog',
  img: 'img:not([alt=""])',
  status: 'output',
};
const selector = `[role~=${CSS.escape(role)}]` + (implicit[role] ? `, ${implicit[role]}` : '');
const roleOf = (el) => {
  const explicit = norm(el.getAttribute('role')).split(' ')[0];
  return explicit || role;
};
const nameOf = (el) => {
  const by = el.getAttribute('aria-labelledby');
  if (by) return textOf(by);
  const aria = norm(el.getAttribute('aria-label'));
  if (aria) return aria;
  if (el.labels && el.labels.length) return norm([...el.labels].map((l) => l.textContent).join(' '));
  if (el.tagName === 'INPUT' && ['submit', 'reset', 'button'].includes(el.type)) {
    return norm(el.value) || { submit: 'Submit', reset: 'Reset' }[el.type] || '';
  }
  if (el.tagName === 'INPUT' && el.type === 'image') return norm(el.alt);
  if (el.tagName === 'IMG') return norm(el.alt);
  return norm(el.innerText || el.textContent) || norm(el.getAttribute('title'));
};
const candidates = [...document.querySelectorAll(selector)]
  .filter((el) => roleOf(el) === role && visible(el));
const seen = candidates.map(nameOf);
return { elements: candidates.filter((el, i) => seen[i] === wanted), seen };
"#;

/// The one field labelled `label`; an error while there is none, or several.
pub(super) async fn by_label(client: &Client, label: &str) -> anyhow::Result<Element> {
    let script = format!("{HELPERS}{BY_LABEL}");
    let answer = client.execute(&script, vec![json!(label)]).await?;
    the_one(
        client,
        answer,
        &format!("field labelled {label:?}"),
        "labels",
    )
}

/// The one element of role `role` named `name`; an error while there is none, or several.
pub(super) async fn by_role(client: &Client, role: &str, name: &str) -> anyhow::Result<Element> {
    let script = format!("{HELPERS}{BY_ROLE}");
    let answer = client
        .execute(&script, vec![json!(role), json!(name)])
        .await?;
    the_one(
        client,
        answer,
        &format!("{role} named {name:?}"),
        &format!("names of the {role}s"),
    )
}

/// Reads the script's `{elements, seen}`: one element is the answer; none or several is an
/// error, listing what the page has (a wait keeps looking, and shows the last one).
fn the_one(client: &Client, answer: Value, what: &str, seen_what: &str) -> anyhow::Result<Element> {
    let elements = answer["elements"]
        .as_array()
        .context("the lookup script returned no list")?;
    match elements.as_slice() {
        [element] => {
            let id = element[ELEMENT_KEY]
                .as_str()
                .context("the lookup script returned no element reference")?;
            Ok(Element::from_element_id(
                client.clone(),
                ElementRef::from(id.to_owned()),
            ))
        }
        [] => bail!("no {what} yet; {seen_what} on the page: {}", answer["seen"]),
        several => bail!("{} elements match: {what}", several.len()),
    }
}
