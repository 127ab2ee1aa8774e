"""The Dask futures crawl, written for crawlq's benchmark from the tutorial's
description: a default local Client(), every page downloaded with requests and
parsed by BeautifulSoup three times (title, tags, links), links followed by
consuming futures with as_completed, and the tags tallied at the end.

The link rule is crawlq's (resolve, drop fragment and query, same host, path
matching ^/questions/\\d+), so the tally can be compared with the site's truth.

With --delay=0.25 every download first sleeps that long, as the tutorial's
crawl does (its `download(url, delay=0.25)`).

usage: python dask_crawl.py SEED_URL [--max-pages=N] [--delay=SECONDS] OUT.json
"""

import collections
import json
import re
import sys
import time
from collections import deque
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from bs4 import BeautifulSoup
from dask.distributed import Client, as_completed

PATTERN = re.compile(r"^/questions/\d+")


def download(url, delay=0):
    time.sleep(delay)
    response = requests.get(url)
    if response.status_code == 200:
        return response.text
    return None


def scrape_title(body):
    if body is None:
        return None
    html = BeautifulSoup(body, "html.parser")
    return html.title.get_text().strip() if html.title else None


def scrape_tags(body):
    if body is None:
        return []
    html = BeautifulSoup(body, "html.parser")
    return sorted({a.get_text().strip() for a in html.select("a.post-tag")})


def scrape_links(body, base_url):
    if body is None:
        return []
    html = BeautifulSoup(body, "html.parser")
    host = urlsplit(base_url).hostname
    links = set()
    for a in html.find_all("a", href=True):
        parts = urlsplit(urljoin(base_url, a["href"].strip()))
        if parts.scheme in ("http", "https") and parts.hostname == host and PATTERN.match(parts.path):
            links.add(urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, "", "")))
    return sorted(links)


def main():
    seed, out = sys.argv[1], sys.argv[-1]
    max_pages = 10**9
    delay = 0.0
    for arg in sys.argv[2:-1]:
        if arg.startswith("--max-pages="):
            max_pages = int(arg.split("=", 1)[1])
        if arg.startswith("--delay="):
            delay = float(arg.split("=", 1)[1])
    client = Client()
    started = time.time()
    urls = deque([seed])
    seen = set()
    all_tags, titles = [], []
    url_futures = as_completed()
    while urls or not url_futures.is_empty():
        if not urls:
            urls.extend(next(url_futures).result())
            continue
        url = urls.popleft()
        if url in seen or len(seen) >= max_pages:
            continue
        seen.add(url)
        page = client.submit(download, url, delay=delay)
        all_tags.append(client.submit(scrape_tags, page))
        titles.append(client.submit(scrape_title, page))
        url_futures.add(client.submit(scrape_links, page, url))
    all_tags = client.gather(all_tags)
    titles = client.gather(titles)
    seconds = time.time() - started
    tally = collections.Counter(tag for tags in all_tags for tag in tags)
    client.close()
    with open(out, "w") as f:
        json.dump({"pages": len(seen), "seconds": seconds, "tag_counts": dict(tally)}, f)


if __name__ == "__main__":
    main()
