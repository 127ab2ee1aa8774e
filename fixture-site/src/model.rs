//! The site's model: which questions exist, their titles, tags and links, all
//! derived from `--seed`, and the known truth a crawl from given seeds must
//! find under crawlq's link rule. No HTML here: see [`crate::html`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Tag names, most popular first; a skewed (Zipf-like) draw picks from them.
/// Several need escaping in URLs or HTML, as real tags do.
pub const TAGS: &[&str] = &[
    "python",
    "javascript",
    "java",
    "c#",
    "html",
    "c++",
    "pandas",
    "reactjs",
    "node.js",
    "sql",
    "r",
    "arrays",
    "dask",
    "rust",
    "css",
    "regex",
    "linux",
    "git",
    "django",
    ".net",
    "json",
    "string",
    "numpy",
    "docker",
    "bash",
    "asp.net-core",
    "typescript",
    "c",
    "go",
    "scrapy",
    "beautifulsoup",
    "web-scraping",
    "multithreading",
    "async-await",
    "dataframe",
    "algorithm",
    "performance",
    "rabbitmq",
    "redis",
    "tokio",
];

/// Ids of deleted questions: linked from some pages, served as 404.
const DELETED_BASE: u64 = 9_000_000;
/// How many deleted questions there are.
const DELETED: u64 = 20;
/// Every n-th question is linked from nowhere: in the site, never reachable.
const ORPHAN_EVERY: usize = 40;
/// Questions listed on a `/questions/tagged/TAG` page.
pub const LISTING_SIZE: usize = 50;

/// How a followed link is written in the page (all canonicalise to the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkForm {
    /// `/questions/ID/slug`
    Relative,
    /// `http://127.0.0.1:PORT/questions/ID/slug`
    Absolute,
    /// `/questions/ID/slug?noredirect=1`
    Query,
    /// `/questions/ID/slug#answer-N`
    Fragment,
    /// `/questions/ID/slug?answertab=votes#tab-top`
    QueryFragment,
    /// `//127.0.0.1:PORT/questions/ID/slug`
    ProtocolRelative,
    /// `HTTP://127.0.0.1:PORT/questions/ID/slug`
    UpperScheme,
    /// `../ID/slug`, relative to the page's own path
    DotDot,
}

const FORMS: [LinkForm; 8] = [
    LinkForm::Relative,
    LinkForm::Absolute,
    LinkForm::Query,
    LinkForm::Fragment,
    LinkForm::QueryFragment,
    LinkForm::ProtocolRelative,
    LinkForm::UpperScheme,
    LinkForm::DotDot,
];

/// Where a followed link points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A question of the site, by index.
    Question(usize),
    /// A deleted question id (404).
    Deleted(u64),
}

/// Which markup a page uses for its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// `<a class="post-tag">` in a `div.post-taglist`.
    Classic,
    /// `<a class="s-tag post-tag">` in `li.js-post-tag-list-item`.
    Modern,
}

/// One question page.
#[derive(Debug, Clone)]
pub struct Question {
    /// Its id in URLs.
    pub id: u64,
    /// Its URL slug.
    pub slug: String,
    /// Its title as text (may hold `<`, `&`, quotes).
    pub title: String,
    /// Its tags, in display order, unique.
    pub tags: Vec<&'static str>,
    /// Links the crawl follows, with the form each is written in.
    pub links: Vec<(Target, LinkForm)>,
    /// Target page size in bytes.
    pub size: usize,
    /// Tag markup.
    pub markup: Markup,
}

/// Generation settings.
#[derive(Debug, Clone, Copy)]
pub struct SiteConfig {
    /// Number of question pages.
    pub pages: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Smallest question page, in bytes.
    pub min_bytes: usize,
    /// Largest question page, in bytes.
    pub max_bytes: usize,
    /// Every n-th question answers its first request with 503 or 429 (0: none).
    pub flaky_every: usize,
    /// Every n-th question (offset by one) always answers 503 (0: none).
    pub broken_every: usize,
    /// Every n-th question (offset by two) is disallowed by robots.txt (0:
    /// none, and robots.txt answers 404).
    pub robots_every: usize,
}

/// The whole site.
#[derive(Debug, Clone)]
pub struct Site {
    /// Settings it was made with.
    pub config: SiteConfig,
    /// Questions by index.
    pub questions: Vec<Question>,
    by_id: HashMap<u64, usize>,
}

/// One page of the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthPage {
    /// HTTP status the site serves; 0 for a page robots.txt disallows, which
    /// a polite crawler never requests.
    pub status: u16,
    /// The decoded `<title>`, trimmed; none for 404s.
    pub title: Option<String>,
    /// Sorted unique tags.
    pub tags: Vec<String>,
    /// Shortest link distance from a seed.
    pub depth: u32,
}

/// What a crawl from given seeds must find: every reachable page and the tally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    /// Canonical URL → page.
    pub pages: BTreeMap<String, TruthPage>,
    /// Tag → number of reachable 200 pages carrying it.
    pub tag_counts: BTreeMap<String, u64>,
}

/// A page's path on the site, as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagePath {
    /// A question by index.
    Question(usize),
    /// A tag listing.
    Tagged(String),
    /// Anything else (404).
    Missing,
}

impl Site {
    /// Generates the site.
    pub fn new(config: SiteConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let pages = config.pages.max(1);
        let linkable: Vec<usize> = (0..pages).filter(|i| !is_orphan(*i)).collect();
        let mut questions = Vec::with_capacity(pages);
        for i in 0..pages {
            let id = 100_000 + (i as u64) * 7 + rng.random_range(0..7);
            let words = title_words(&mut rng);
            let slug = words.join("-").to_ascii_lowercase();
            let title = decorate_title(&mut rng, &words);
            let ntags = rng.random_range(1..=5);
            let mut tags: Vec<&'static str> = Vec::new();
            while tags.len() < ntags {
                let tag = TAGS[zipf(&mut rng, TAGS.len())];
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            let mut links = Vec::new();
            for _ in 0..rng.random_range(3..=12) {
                let target = linkable[rng.random_range(0..linkable.len())];
                links.push((
                    Target::Question(target),
                    FORMS[rng.random_range(0..FORMS.len())],
                ));
            }
            if rng.random_bool(0.1) {
                links.push((
                    Target::Deleted(DELETED_BASE + rng.random_range(0..DELETED)),
                    LinkForm::Relative,
                ));
            }
            let size = rng.random_range(config.min_bytes..=config.max_bytes.max(config.min_bytes));
            let markup = if rng.random_bool(0.5) {
                Markup::Classic
            } else {
                Markup::Modern
            };
            questions.push(Question {
                id,
                slug,
                title,
                tags,
                links,
                size,
                markup,
            });
        }
        let by_id = questions
            .iter()
            .enumerate()
            .map(|(i, q)| (q.id, i))
            .collect();
        Self {
            config,
            questions,
            by_id,
        }
    }

    /// Routes a path (no query) to a page.
    pub fn route(&self, path: &str) -> PagePath {
        let mut parts = path.trim_start_matches('/').split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("questions"), Some("tagged"), Some(tag), None) if !tag.is_empty() => {
                let tag = percent_decode(tag);
                if TAGS.contains(&tag.as_str()) {
                    PagePath::Tagged(tag)
                } else {
                    PagePath::Missing
                }
            }
            (Some("questions"), Some(id), Some(slug), None) => {
                match id.parse().ok().and_then(|id: u64| self.by_id.get(&id)) {
                    Some(&i) if self.questions[i].slug == slug => PagePath::Question(i),
                    _ => PagePath::Missing,
                }
            }
            _ => PagePath::Missing,
        }
    }

    /// The questions listed on a tag's page: the first [`LISTING_SIZE`] linkable ones carrying it.
    pub fn listing(&self, tag: &str) -> Vec<usize> {
        (0..self.questions.len())
            .filter(|&i| !is_orphan(i) && self.questions[i].tags.contains(&tag))
            .take(LISTING_SIZE)
            .collect()
    }

    /// The tags a listing page shows: its questions' tags plus a related-tags sidebar.
    pub fn listing_tags(&self, tag: &str) -> BTreeSet<&'static str> {
        let mut tags: BTreeSet<&'static str> = self
            .listing(tag)
            .iter()
            .flat_map(|&i| self.questions[i].tags.iter().copied())
            .collect();
        tags.extend(related_tags(tag));
        tags
    }

    /// Whether question `i` fails its first request (then works).
    pub fn is_flaky(&self, i: usize) -> bool {
        self.config.flaky_every > 0 && i.is_multiple_of(self.config.flaky_every)
    }

    /// Whether robots.txt disallows question `i`.
    pub fn is_disallowed(&self, i: usize) -> bool {
        self.config.robots_every > 0
            && i % self.config.robots_every == 2 % self.config.robots_every
            && !self.is_flaky(i)
            && !self.is_broken(i)
    }

    /// The site's robots.txt, when it has one: a group for every agent that
    /// disallows the questions [`Site::is_disallowed`] names (by id prefix,
    /// as sites write them), with comments and an unknown field a parser
    /// must skip.
    pub fn robots_txt(&self) -> Option<String> {
        if self.config.robots_every == 0 {
            return None;
        }
        let mut body = String::from(
            "# robots.txt of the fixture site\nSitemap: /sitemap.xml\n\nUser-agent: *\nAllow: /questions/tagged/\nNoindex: /nothing\n",
        );
        for i in (0..self.questions.len()).filter(|&i| self.is_disallowed(i)) {
            body.push_str(&format!("Disallow: /questions/{}/\n", self.questions[i].id));
        }
        body.push_str("\nUser-agent: someotherbot\nDisallow: /\n");
        Some(body)
    }

    /// Whether question `i` always answers 503.
    pub fn is_broken(&self, i: usize) -> bool {
        self.config.broken_every > 0
            && i % self.config.broken_every == 1 % self.config.broken_every
            && !self.is_flaky(i)
    }

    /// The path of question `i`.
    pub fn question_path(&self, i: usize) -> String {
        let q = &self.questions[i];
        format!("/questions/{}/{}", q.id, q.slug)
    }

    /// The path a target resolves to.
    pub fn target_path(&self, target: Target) -> String {
        match target {
            Target::Question(i) => self.question_path(i),
            Target::Deleted(id) => format!("/questions/{id}/deleted-question"),
        }
    }

    /// The truth for a crawl from `seeds` (paths such as `/questions/tagged/python`)
    /// with every URL under `base` (e.g. `http://127.0.0.1:8080`).
    pub fn truth(&self, base: &str, seeds: &[String]) -> Truth {
        let mut pages = BTreeMap::new();
        let mut queue: VecDeque<(String, u32)> = VecDeque::new();
        let mut seen = BTreeSet::new();
        for seed in seeds {
            if seen.insert(seed.clone()) {
                queue.push_back((seed.clone(), 0));
            }
        }
        while let Some((path, depth)) = queue.pop_front() {
            let (page, next) = match self.route(&path) {
                PagePath::Question(i) if self.is_disallowed(i) => (
                    TruthPage {
                        status: 0,
                        title: None,
                        tags: Vec::new(),
                        depth,
                    },
                    Vec::new(),
                ),
                PagePath::Question(i) if self.is_broken(i) => (
                    TruthPage {
                        status: 503,
                        title: None,
                        tags: Vec::new(),
                        depth,
                    },
                    Vec::new(),
                ),
                PagePath::Question(i) => {
                    let q = &self.questions[i];
                    let page = TruthPage {
                        status: 200,
                        title: Some(format!("{} - {} - Stack Overflow", q.tags[0], q.title)),
                        tags: sorted(q.tags.iter().copied()),
                        depth,
                    };
                    let next: Vec<String> =
                        q.links.iter().map(|(t, _)| self.target_path(*t)).collect();
                    (page, next)
                }
                PagePath::Tagged(tag) => {
                    let page = TruthPage {
                        status: 200,
                        title: Some(format!("Newest '{tag}' Questions - Stack Overflow")),
                        tags: sorted(self.listing_tags(&tag)),
                        depth,
                    };
                    let next = self
                        .listing(&tag)
                        .into_iter()
                        .map(|i| self.question_path(i))
                        .collect();
                    (page, next)
                }
                PagePath::Missing => (
                    TruthPage {
                        status: 404,
                        title: None,
                        tags: Vec::new(),
                        depth,
                    },
                    Vec::new(),
                ),
            };
            for path in next {
                if seen.insert(path.clone()) {
                    queue.push_back((path, depth + 1));
                }
            }
            pages.insert(format!("{base}{path}"), page);
        }
        let mut tag_counts = BTreeMap::new();
        for page in pages.values() {
            for tag in &page.tags {
                *tag_counts.entry(tag.clone()).or_insert(0) += 1;
            }
        }
        Truth { pages, tag_counts }
    }
}

/// Whether question `i` is linked from nowhere.
pub fn is_orphan(i: usize) -> bool {
    i % ORPHAN_EVERY == ORPHAN_EVERY - 1
}

/// The related tags a listing's sidebar shows: five fixed neighbours in [`TAGS`].
pub fn related_tags(tag: &str) -> Vec<&'static str> {
    let at = TAGS.iter().position(|t| *t == tag).unwrap_or(0);
    (1..=5).map(|k| TAGS[(at + k * 3) % TAGS.len()]).collect()
}

fn sorted<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    tags.into_iter()
        .map(str::to_owned)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A skewed draw of an index below `n`: index k with weight 1/(k+1).
fn zipf(rng: &mut StdRng, n: usize) -> usize {
    let total: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
    let mut x = rng.random_range(0.0..total);
    for k in 0..n {
        x -= 1.0 / (k + 1) as f64;
        if x <= 0.0 {
            return k;
        }
    }
    n - 1
}

const WORDS: &[&str] = &[
    "How",
    "to",
    "parse",
    "merge",
    "a",
    "list",
    "of",
    "dictionaries",
    "in",
    "async",
    "loop",
    "without",
    "blocking",
    "the",
    "event",
    "queue",
    "Why",
    "does",
    "my",
    "regex",
    "fail",
    "on",
    "nested",
    "tags",
    "Convert",
    "string",
    "into",
    "dataframe",
    "column",
    "with",
    "missing",
    "values",
    "Best",
    "way",
    "scrape",
    "links",
    "from",
    "page",
    "using",
    "futures",
];

fn title_words(rng: &mut StdRng) -> Vec<&'static str> {
    (0..rng.random_range(4..=10))
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect()
}

/// Adds the characters real titles hold that need escaping in HTML.
fn decorate_title(rng: &mut StdRng, words: &[&str]) -> String {
    let mut title = words.join(" ");
    match rng.random_range(0..6) {
        0 => title.push_str(" & more"),
        1 => title.push_str(" in <div> elements"),
        2 => title.push_str(" with \"quotes\" and 'apostrophes'"),
        3 => title.push_str(" — naïve café"),
        _ => {}
    }
    title.push('?');
    title
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("t={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new(SiteConfig {
            pages: 400,
            seed: 7,
            min_bytes: 1000,
            max_bytes: 2000,
            flaky_every: 0,
            broken_every: 0,
            robots_every: 0,
        })
    }

    #[test]
    fn robots_txt_disallows_its_pages_and_the_truth_never_requests_them() {
        assert_eq!(site().robots_txt(), None);
        let site = Site::new(SiteConfig {
            robots_every: 10,
            ..site().config
        });
        let robots = site.robots_txt().unwrap_or_default();
        let disallowed: Vec<usize> = (0..400).filter(|&i| site.is_disallowed(i)).collect();
        assert_eq!(disallowed.len(), 40);
        for &i in &disallowed {
            let id = site.questions[i].id;
            assert!(
                robots.contains(&format!("Disallow: /questions/{id}/\n")),
                "{id}"
            );
        }
        let truth = site.truth("http://h", &["/questions/tagged/python".into()]);
        for &i in &disallowed {
            if let Some(page) = truth
                .pages
                .get(&format!("http://h{}", site.question_path(i)))
            {
                assert_eq!((page.status, page.tags.len()), (0, 0));
            }
        }
        assert!(truth.pages.values().any(|p| p.status == 0));
    }

    #[test]
    fn same_seed_same_site() {
        let (a, b) = (site(), site());
        assert_eq!(a.question_path(17), b.question_path(17));
        assert_eq!(a.questions[17].tags, b.questions[17].tags);
    }

    #[test]
    fn routes_and_truth() {
        let site = site();
        assert_eq!(site.route(&site.question_path(3)), PagePath::Question(3));
        assert_eq!(
            site.route("/questions/tagged/c%23"),
            PagePath::Tagged("c#".into())
        );
        assert_eq!(site.route("/questions/1/nope"), PagePath::Missing);
        let truth = site.truth("http://h", &["/questions/tagged/python".into()]);
        let orphan = format!("http://h{}", site.question_path(ORPHAN_EVERY - 1));
        assert!(!truth.pages.contains_key(&orphan));
        assert!(truth.pages.len() > 300, "{}", truth.pages.len());
        assert!(truth.pages.values().any(|p| p.status == 404));
        let tagged: u64 = truth
            .pages
            .values()
            .filter(|p| p.tags.iter().any(|t| t == "python"))
            .count() as u64;
        assert_eq!(truth.tag_counts["python"], tagged);
    }
}
