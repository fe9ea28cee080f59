// The profile editor: our name, headline and avatar, as `accord profile set` sets them. The
// daemon checks everything and its refusal (too long, control or bidirectional characters,
// not PNG or JPEG) is shown inline, in the CLI's words; the one check made here is the CLI's
// own, the file's size, before anything is sent.

import { call } from "./api.js";
import { el, fill, avatar, refreshAvatars, busy, toast } from "./dom.js";

/** The largest avatar file, in bytes (64 KiB, as the CLI and the daemon allow). */
const AVATAR_MAX_BYTES = 65536;

/** Shows the profile editor in `view`; returns its live-event handler. */
export async function showProfile(view) {
  fill(view, el("h2", {}, "Your profile"), el("p", { class: "muted" }, "Loading…"));
  let profile;
  try {
    profile = await call("profile", {});
  } catch (err) {
    fill(view, el("h2", {}, "Your profile"), el("p", { class: "error" }, err.message));
    return null;
  }
  const editor = new ProfileEditor(profile.id, profile);
  fill(view, el("h2", {}, "Your profile"), editor.root);
  editor.name.focus();
  return (event) => editor.onEvent(event);
}

class ProfileEditor {
  constructor(me, profile) {
    this.me = me;
    this.name = el("input", { id: "profile-name", name: "name", autocomplete: "name", value: profile.name || null });
    this.headline = el("input", { id: "profile-headline", name: "headline", value: profile.headline || null });
    this.file = el("input", { id: "profile-avatar", name: "avatar", type: "file", accept: "image/png,image/jpeg" });
    this.error = el("p", { id: "profile-error", class: "error", role: "alert", hidden: true });
    this.version = el("p", { id: "profile-version", class: "muted small" });
    this.submit = el("button", { type: "submit", class: "primary" }, "Save profile");
    const form = el("form", { class: "connect profile-form" },
      el("div", { class: "who-row" }, avatar("", profile.name || "?", "huge"),
        el("p", { class: "muted small" }, "Your connections get your profile over the end-to-end channel; ",
          "your name and headline also ride, sealed, inside every invite you send.")),
      el("label", { for: "profile-name" }, "Name (at most 64 characters)"), this.name,
      el("label", { for: "profile-headline" }, "Headline (at most 120 characters)"), this.headline,
      el("label", { for: "profile-avatar" }, "Avatar (PNG or JPEG, at most 64 KiB; the current one is kept if none is chosen)"), this.file,
      this.error,
      el("div", { class: "form-foot" }, this.version, this.submit));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(this.submit, () => this.save());
    });
    this.root = form;
    this.showVersion(profile.version);
  }

  showVersion(version) {
    this.version.textContent = version > 0 ? "Saved: your connections have it, or get it when they are next online." :
      "No profile yet: your connections see your Accord ID.";
    this.root.dataset.version = String(version);
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  async save() {
    this.showError("");
    const request = { name: this.name.value, headline: this.headline.value };
    const chosen = this.file.files && this.file.files[0];
    if (chosen) {
      if (chosen.size > AVATAR_MAX_BYTES) {
        this.showError(`the avatar file ${chosen.name} is ${chosen.size} bytes; at most ${AVATAR_MAX_BYTES} are allowed`);
        return;
      }
      request.avatar_hex = toHex(new Uint8Array(await chosen.arrayBuffer()));
    }
    let saved;
    try {
      saved = await call("profile_set", request);
    } catch (err) {
      this.showError(err.message);
      return;
    }
    this.file.value = "";
    this.showVersion(saved.version);
    refreshAvatars(this.me, saved.version, true);
    toast("Profile saved: it goes to your connections now.");
  }

  /** Our profile changed elsewhere (another tab, the CLI): show the new version. */
  onEvent(event) {
    if (event.event !== "profile_updated" || event.peer !== this.me) return;
    if (Number(this.root.dataset.version) >= event.version) return;
    this.showVersion(event.version);
    if (document.activeElement !== this.name) this.name.value = event.name;
    if (document.activeElement !== this.headline) this.headline.value = event.headline;
  }
}

function toHex(bytes) {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
