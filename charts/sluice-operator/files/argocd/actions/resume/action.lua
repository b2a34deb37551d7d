-- Argo CD action "resume": the operator restarts the job from the savepoint taken when it was suspended.
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.state = "running"
return obj
