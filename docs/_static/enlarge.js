// Click a figure to see it at full size: every image a notebook cell drew becomes a link
// to itself (opened in a new tab).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("div.cell_output img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.target = "_blank";
    link.title = "open the full-size figure";
    link.className = "figure-enlarge";
    img.replaceWith(link);
    link.appendChild(img);
  });
});
