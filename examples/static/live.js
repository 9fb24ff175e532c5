// The blog's live index: posts created anywhere appear at the top of the list as they
// are created, through server-sent events (GET /live/posts, examples/blog_live.py).
"use strict";

const list = document.querySelector("ul.posts[data-live]");
if (list) {
  // The browser reconnects by itself and sends the last id it got (Last-Event-ID).
  const source = new EventSource(list.dataset.live);
  source.addEventListener("post", (event) => {
    const post = JSON.parse(event.data);
    const known = [...list.querySelectorAll("a")].some((a) => a.getAttribute("href") === post.url);
    if (known) return; // already listed (the page was rendered after it was created)
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = post.url;
    link.textContent = post.title; // text, never HTML
    const time = document.createElement("time");
    time.dateTime = post.created_at;
    time.textContent = post.created_at.slice(0, 10);
    item.append(link, " ", time);
    list.prepend(item);
    document.querySelector(".no-posts")?.remove();
  });
}
