"""An idiomatic Scrapy spider for the same crawl, for crawlq's benchmark:
64 concurrent requests, no delay, robots.txt ignored, crawlq's link rule,
tags tallied when the spider closes.

usage: python scrapy_crawl.py SEED_URL OUT.json
"""

import collections
import json
import re
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import scrapy
from scrapy.crawler import CrawlerProcess

PATTERN = re.compile(r"^/questions/\d+")


class QuestionSpider(scrapy.Spider):
    name = "questions"
    custom_settings = {
        "CONCURRENT_REQUESTS": 64,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
    }

    def __init__(self, seed, out, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [seed]
        self.host = urlsplit(seed).hostname
        self.out = out
        self.tally = collections.Counter()
        self.pages = 0
        self.started = time.time()

    def parse(self, response):
        self.pages += 1
        tags = {t.strip() for t in response.css("a.post-tag::text").getall() if t.strip()}
        self.tally.update(tags)
        response.css("title::text").get()
        for href in response.css("a::attr(href)").getall():
            parts = urlsplit(response.urljoin(href.strip()))
            if parts.scheme in ("http", "https") and parts.hostname == self.host and PATTERN.match(parts.path):
                url = urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, "", ""))
                yield scrapy.Request(url, callback=self.parse)

    def closed(self, reason):
        with open(self.out, "w") as f:
            json.dump({"pages": self.pages, "seconds": time.time() - self.started, "tag_counts": dict(self.tally)}, f)


if __name__ == "__main__":
    process = CrawlerProcess()
    process.crawl(QuestionSpider, seed=sys.argv[1], out=sys.argv[2])
    process.start()
