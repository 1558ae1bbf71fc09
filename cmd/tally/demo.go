package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"
)

// The demo district, loaded by `tally serve --demo` on an empty data
// directory through the public API (so the demo exercises exactly what
// clients use). README.md lists these logins.
const (
	demoAdminPassword     = "demo-admin-2026"
	demoStaffPassword     = "demo-staff-2026"
	demoResidentPassword  = "demo-resident-2026"
	demoRequestTimeout    = 30 * time.Second
	demoMaxResponseLength = 1 << 20
)

// demoCall is one API call of the demo script.
type demoCall struct {
	as     string // login to use: "admin", "wang", ...
	method string
	path   string
	body   any
}

func demoScript(now time.Time) []demoCall {
	day := func(d int) string { return now.AddDate(0, 0, -d).UTC().Format(time.RFC3339) }
	member := func(id, c, name, born string, login bool, pw string, roles ...string) demoCall {
		b := map[string]any{"id": id, "community": c, "display_name": name, "roles": roles}
		if born != "" {
			b["personal"] = map[string]string{"birth_date": born}
		}
		if login {
			b["username"], b["password"] = id, pw
		}
		return demoCall{"admin", "POST", "/v1/members", b}
	}
	svc := func(vol, rec, cat, hours string, d int) demoCall {
		return demoCall{"wang", "POST", "/v1/services", map[string]any{"volunteer": vol, "recipient": rec,
			"community": "hongxing", "category": cat, "hours": hours, "occurred_at": day(d)}}
	}
	return []demoCall{
		{"admin", "POST", "/v1/communities", map[string]any{"id": "jinjiang", "name": "锦江区"}},
		{"admin", "POST", "/v1/communities", map[string]any{"id": "chunxi", "name": "春熙路街道", "parent": "jinjiang"}},
		{"admin", "POST", "/v1/communities", map[string]any{"id": "hongxing", "name": "红星社区", "parent": "chunxi",
			"policy": map[string]any{"earning": "deposit", "max_balance": "1500.00", "min_age": 65, "hardship_min_age": 60}}},
		{"admin", "POST", "/v1/communities", map[string]any{"id": "shuangqiao", "name": "双桥社区", "parent": "chunxi",
			"policy": map[string]any{"earning": "mutual_credit", "credit_limit": "10.00"}}},
		member("wang", "hongxing", "王社工", "", true, demoStaffPassword, "coordinator"),
		member("auditor", "jinjiang", "区民政局审计", "", true, demoStaffPassword, "auditor"),
		member("li", "hongxing", "李志愿者", "1957-03-12", true, demoResidentPassword, "resident", "volunteer"),
		member("zhou", "hongxing", "周志愿者", "1990-08-01", true, demoResidentPassword, "resident", "volunteer"),
		member("zhang", "hongxing", "张奶奶", "1938-05-20", false, "", "resident"),
		member("chen", "hongxing", "陈阿姨", "1960-11-02", true, demoResidentPassword, "resident"),
		member("liu", "hongxing", "刘委员", "", true, demoStaffPassword, "committee", "resident"),
		member("zhao", "hongxing", "赵委员", "", true, demoStaffPassword, "committee", "resident"),
		member("sun", "hongxing", "孙委员", "", true, demoStaffPassword, "committee", "resident"),
		svc("li", "zhang", "elder_care", "2.00", 6),
		svc("zhou", "zhang", "elder_care", "1.50", 5),
		svc("li", "hongxing", "community_activity", "3.00", 3),
		{"wang", "PUT", "/v1/communities/hongxing/catalogue/rice-5kg", map[string]any{"name": "大米 5 公斤（爱心超市）", "hours": "2.00", "kind": "goods"}},
		{"wang", "PUT", "/v1/communities/hongxing/catalogue/haircut", map[string]any{"name": "上门理发", "hours": "1.00", "kind": "service"}},
		{"admin", "POST", "/v1/funds", map[string]any{"id": "hongxing-fund", "community": "hongxing", "name": "红星社区基金",
			"committee": []string{"liu", "zhao", "sun"}, "quorum": 2,
			"projects": []any{map[string]any{"id": "school", "name": "爱心助学"}}}},
		{"wang", "POST", "/v1/funds/hongxing-fund/donations", map[string]any{"donor": "company-jinhui", "donor_kind": "company", "amount": "15000.00", "project": "school"}},
		{"wang", "POST", "/v1/funds/hongxing-fund/donations", map[string]any{"donor": "resident-anon-1", "donor_kind": "person", "amount": "200.00", "anonymous": true}},
		{"wang", "POST", "/v1/funds/hongxing-fund/donations", map[string]any{"donor": "org-red-cross", "donor_kind": "organisation", "amount": "5800.00"}},
	}
}

// loadDemo runs the demo script through the server's handler h, in
// process and before the server takes any connection (so no client can
// see a half-loaded district or take one of its ids), then confirms the
// pending services and opens one disbursement proposal.
func loadDemo(ctx context.Context, h http.Handler, adminPassword string) error {
	tokens := map[string]string{}
	login := func(user, pw string) error {
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := demoDo(ctx, h, "", "POST", "/v1/auth/token", map[string]any{"username": user, "password": pw}, &out); err != nil {
			return err
		}
		tokens[user] = out.AccessToken
		return nil
	}
	if err := login("admin", adminPassword); err != nil {
		return fmt.Errorf("demo: admin login: %w", err)
	}
	for _, c := range demoScript(time.Now()) {
		if _, ok := tokens[c.as]; !ok {
			if err := login(c.as, demoStaffPassword); err != nil {
				return err
			}
		}
		var out struct {
			ID string `json:"id"`
		}
		if err := demoDo(ctx, h, tokens[c.as], c.method, c.path, c.body, &out); err != nil {
			return err
		}
		if c.path == "/v1/services" {
			// The recipient is offline; the coordinator confirms for them.
			if err := demoDo(ctx, h, tokens["wang"], "POST", "/v1/services/"+out.ID+"/confirm", map[string]any{"reason": "已电话回访确认"}, nil); err != nil {
				return err
			}
		}
	}
	return demoDo(ctx, h, tokens["wang"], "POST", "/v1/funds/hongxing-fund/proposals", map[string]any{
		"amount": "3000.00", "beneficiary": "B-2026-017", "project": "school", "purpose": "为 6 名困难家庭学生购买秋季学习用品"}, nil)
}

func demoDo(ctx context.Context, h http.Handler, token, method, path string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, demoRequestTimeout)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(raw))
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, demoMaxResponseLength))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("demo: %s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
