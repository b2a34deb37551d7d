-- Argo CD action "suspend": the operator stops the job with a savepoint and removes its pods.
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.state = "suspended"
return obj
